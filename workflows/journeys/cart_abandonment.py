"""Cart abandonment, as the founding guide tells it.

Lisa adds a lipstick to her cart and, later, leaves the shop: an hour goes by without
a move (a page, a product, her cart); while she shops on, each move starts the hour
again. Then she gets a web push. Later the same day (three hours after she left) an
email reminds her of what is in her cart. That evening, in her time zone, she joins
the retargeting audience, so an ad gives her the last nudge; if her evening has
already begun when the email goes, she joins at once. What she takes out of her cart
leaves the messages, and a cart she empties ends the journey (ended early: out of the
KPI). If she orders at any point the journey stops at once and she leaves the
audience; an order within 7 days of entry is a conversion.
"""

from datetime import time, timedelta
from typing import Any

from workflows.kit import Goal, Journey, On, journey

EVENING = time(19, 0)
LEFT = timedelta(hours=1)  # an hour without a move: she has left
LATER_THAT_DAY = timedelta(hours=3)  # the email, three hours after she left
# Her moves in the shop, as Segment's e-commerce spec names them, and any page.
SHOPPING = (On(type="page"), "Product Viewed", "Product Added", "Product Removed", "Cart Viewed",
            "Checkout Started")


@journey(
    name="cart_abandonment",
    enters_on="Product Added",
    listens_to=SHOPPING,
    exits_on="Order Completed",  # at any moment, even mid-wait
    goal=Goal("Order Completed", within=timedelta(days=7), revenue="revenue"),
    changes=("cart-2026-11-retargeting-ad", "cart-2026-12-the-guides-order"),
)
class CartAbandonment(Journey):
    async def story(self) -> None:
        if self.changed("cart-2026-12-the-guides-order"):  # customers entering from this change on
            await self.the_guides_order()
            return
        await self.delay(timedelta(hours=1), "an hour after she left her cart")
        await self.send_push("push_1h", template="cart_abandonment", data=self.cart())

        if self.changed("cart-2026-11-retargeting-ad"):
            await self.delay_until_local(EVENING, reason="that evening, her time",
                                         at_latest=self.after_entry(timedelta(days=1)))
            await self.add_to_audience("cart_abandoners")  # left when she orders, or when the journey ends

        await self.delay_until(self.after_entry(timedelta(days=1)), "a day after she entered")
        await self.send_email("email_24h", template="cart_abandonment", data=self.cart())

    async def the_guides_order(self) -> None:
        await self.wait_until_quiet(SHOPPING, quiet=LEFT, at_most=timedelta(days=1),
                                    reason="she is in the shop: an hour after her last move")
        await self.unless_her_cart_is_empty()
        await self.send_push("push_1h", template="cart_abandonment", data=self.cart())

        await self.delay(LATER_THAT_DAY - LEFT, "later that day")
        await self.unless_her_cart_is_empty()
        await self.send_email("email_same_day", template="cart_abandonment", data=self.cart())

        await self.delay_until_local(EVENING, reason="that evening, her time", if_passed="now")
        await self.unless_her_cart_is_empty()
        await self.add_to_audience("cart_abandoners")  # left when she orders, or when the journey ends

    async def unless_her_cart_is_empty(self) -> None:
        if not self.cart()["items"]:
            await self.end("she emptied her cart")

    def cart(self) -> dict[str, Any]:
        """What is in her cart now: every "Product Added" so far, less every "Product
        Removed" (its quantity, or the whole line when it names none), one line per product."""
        items: dict[str, dict[str, Any]] = {}
        for event in self.events:
            product = event.text("product_id") or event.text("sku") or event.text("name")
            if event.name == "Product Added":
                line = items.setdefault(product, {**event.properties, "quantity": 0})
                line["quantity"] += event.integer("quantity", 1, minimum=1)
            elif event.name == "Product Removed" and product in items:
                items[product]["quantity"] -= event.integer("quantity", items[product]["quantity"], minimum=1)
                if items[product]["quantity"] <= 0:
                    del items[product]
        return {"items": list(items.values()), "cart_id": self.entry.text("cart_id") or None if self.entry else None}
