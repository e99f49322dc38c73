"""The same kind of edit made safe, for tests/test_replay.py: a new reminder for
customers who enter from now on, behind `self.changed` and declared. Customers already
inside replay the old path: their input doesn't name the change, and their history has
no patch marker."""

from datetime import timedelta

from workflows.journeys.cart_abandonment import EVENING
from workflows.journeys.cart_abandonment import CartAbandonment as Current
from workflows.kit import Goal, Journey, journey


@journey(name="cart_abandonment", enters_on="Product Added", exits_on="Order Completed",
         goal=Goal("Order Completed", within=timedelta(days=7), revenue="revenue"),
         changes=("cart-2026-11-retargeting-ad", "cart-2026-11-early-email"))
class CartAbandonment(Journey):
    cart = Current.cart

    async def story(self) -> None:
        await self.delay(timedelta(hours=1), "an hour after she left her cart")
        await self.send_push("push_1h", template="cart_abandonment", data=self.cart())
        if self.changed("cart-2026-11-early-email"):
            await self.delay(timedelta(hours=3), "three more hours")
            await self.send_email("email_4h", template="cart_abandonment", data=self.cart())
        if self.changed("cart-2026-11-retargeting-ad"):
            await self.delay_until_local(EVENING, reason="that evening, her time",
                                         at_latest=self.after_entry(timedelta(days=1)))
            await self.add_to_audience("cart_abandoners")
        await self.delay_until(self.after_entry(timedelta(days=1)), "a day after she entered")
        await self.send_email("email_24h", template="cart_abandonment", data=self.cart())
