"""The same kind of edit made safe, for tests/test_replay.py: a new reminder for
customers who enter from now on, behind `workflow.patched`. Customers already inside
replay the old path (the patch marker is absent from their history)."""

from datetime import timedelta

from temporalio import workflow

from workflows.cart_abandonment import CartAbandonment as Current
from workflows.journey import Goal, Journey, journey


@journey(name="cart_abandonment", enters_on="Product Added", exits_on="Order Completed",
         goal=Goal("Order Completed", within=timedelta(days=7)))
class CartAbandonment(Journey):
    cart = Current.cart

    async def story(self) -> None:
        await self.delay(timedelta(hours=1), "an hour after she left her cart")
        await self.send_push("push_1h", template="cart_abandonment", data=self.cart())
        if workflow.patched("cart-2026-11-early-email"):
            await self.delay(timedelta(hours=3), "three more hours")
            await self.send_email("email_4h", template="cart_abandonment", data=self.cart())
        await self.delay_until(self.after_entry(timedelta(days=1)), "a day after she entered")
        await self.send_email("email_24h", template="cart_abandonment", data=self.cart())
