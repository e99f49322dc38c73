"""An unsafe edit of workflows/journeys/cart_abandonment.py, for tests/test_replay.py: the email
now comes before the push. A customer already past the push would replay into a
different command, so CI must refuse it."""

from datetime import timedelta

from workflows.journeys.cart_abandonment import CartAbandonment as Current
from workflows.kit import Goal, Journey, journey


@journey(name="cart_abandonment", enters_on="Product Added", exits_on="Order Completed",
         goal=Goal("Order Completed", within=timedelta(days=7)))
class CartAbandonment(Journey):
    cart = Current.cart

    async def story(self) -> None:
        await self.delay(timedelta(hours=1), "an hour after she left her cart")
        await self.send_email("email_1h", template="cart_abandonment", data=self.cart())
        await self.delay_until(self.after_entry(timedelta(days=1)), "a day after she entered")
        await self.send_push("push_24h", template="cart_abandonment", data=self.cart())
