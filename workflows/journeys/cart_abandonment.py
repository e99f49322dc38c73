"""Cart abandonment, as the founding guide tells it.

Lisa adds a lipstick to her cart and leaves. An hour later she gets a web push. That
evening, in her time zone, she joins the retargeting audience, so an ad gives her the
last nudge. A day after she entered, an email reminds her of what is in her cart. If
she orders at any point the journey stops at once and she leaves the audience; an
order within 7 days of entry is a conversion.
"""

from datetime import time, timedelta
from typing import Any

from workflows.kit import Goal, Journey, journey

EVENING = time(19, 0)


@journey(
    name="cart_abandonment",
    enters_on="Product Added",
    exits_on="Order Completed",  # at any moment, even mid-wait
    goal=Goal("Order Completed", within=timedelta(days=7), revenue="revenue"),
    changes=("cart-2026-11-retargeting-ad",),
)
class CartAbandonment(Journey):
    async def story(self) -> None:
        await self.delay(timedelta(hours=1), "an hour after she left her cart")
        await self.send_push("push_1h", template="cart_abandonment", data=self.cart())

        if self.changed("cart-2026-11-retargeting-ad"):  # customers entering from this change on
            await self.delay_until_local(EVENING, reason="that evening, her time",
                                         at_latest=self.after_entry(timedelta(days=1)))
            await self.add_to_audience("cart_abandoners")  # left when she orders, or when the journey ends

        await self.delay_until(self.after_entry(timedelta(days=1)), "a day after she entered")
        await self.send_email("email_24h", template="cart_abandonment", data=self.cart())

    def cart(self) -> dict[str, Any]:
        """What is in her cart now: every "Product Added" so far, one line per product."""
        items: dict[str, dict[str, Any]] = {}
        for event in self.events:
            if event.name == "Product Added":
                product = event.text("product_id") or event.text("sku") or event.text("name")
                line = items.setdefault(product, {**event.properties, "quantity": 0})
                line["quantity"] += event.integer("quantity", 1, minimum=1)
        return {"items": list(items.values()), "cart_id": self.entry.text("cart_id") or None if self.entry else None}
