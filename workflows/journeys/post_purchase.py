"""Post-purchase for first-time buyers, as the founding guide tells it.

Her first order makes her a first-time buyer. A day later she gets a thank-you with
an offer for her next order. A week in, a cross-sell: what goes with what she bought.
For each product she bought that runs out (a `replenish_days` property), one reminder
when it should be running low, unless she has reordered it meanwhile. A second order
within 60 days is a conversion, and it makes the next-order offer and the cross-sell
pointless: once she has ordered again they are skipped (her reminders go on).

The guide asks for several channels: each message goes on her best channel (email,
push or on-site, by her engagement), by email when that one can't take it. How long a
product lasts comes from the order line's `replenish_days`, else from the catalog (the
shop's product feed).
"""

from datetime import timedelta
from typing import Any

from workflows.kit import Goal, Joins, Journey, JourneyEvent, journey
from workflows.kit.coupons import Coupon
from workflows.segments import FIRST_TIME_BUYER

MAX_REMINDERS = 10
CHANNELS = ("email", "push", "onsite")  # her best of these; email first when too little is known


@journey(
    name="post_purchase",
    enters_on=Joins(FIRST_TIME_BUYER),  # her first order
    listens_to="Order Completed",
    goal=Goal("Order Completed", within=timedelta(days=60), kpi="conversion rate", revenue="revenue"),
    params={"second_order_coupon_days": 30},
    changes=("post-purchase-2026-12-second-order-ends-offers", "post-purchase-2026-12-best-channel-and-feed"),
)
class PostPurchase(Journey):
    async def story(self) -> None:
        bought = self.products(self.entry)
        # Customers who entered before this change get every message by email, and only
        # the order's own replenish_days (their runs replay as they were recorded).
        self.channel = "email"
        if self.changed("post-purchase-2026-12-best-channel-and-feed"):
            unknown = [p["product_id"] for p in bought if not self.lasts(p)]
            lasting = await self.replenish_days(unknown) if unknown else {}
            bought = [p if self.lasts(p) else {**p, "replenish_days": lasting.get(p["product_id"])} for p in bought]

        await self.delay(timedelta(days=1), "a day after her first order")
        if self.changed("post-purchase-2026-12-best-channel-and-feed"):
            self.channel = await self.best_channel(CHANNELS)
        if self.ordered_again():
            self.branch("next-order offer", "skipped: she ordered again")
        else:
            coupon = await self.issue_coupon("second_order",
                                             expires_in=timedelta(days=self.param("second_order_coupon_days")),
                                             to_reach=self.channel, fallback="email")
            await self.send("thank_you_offer", template="post_purchase_offer", coupon=coupon)

        # What comes next, in the order it falls due: the cross-sell a week in, and a
        # reminder for each product when it should be running low.
        moments: list[tuple[timedelta, str, dict[str, Any]]] = [(timedelta(days=7), "cross_sell", {})]
        moments += [(timedelta(days=days), "replenish", product) for product, days in self.replenishments(bought)]
        for offset, kind, product in sorted(moments, key=lambda m: (m[0], m[1], m[2].get("product_id", ""))):
            if kind == "cross_sell":
                await self.delay_until(self.after_entry(offset), "a week after her first order")
                if self.ordered_again():
                    self.branch("cross-sell", "skipped: she ordered again")
                    continue
                picks = await self.recommend("frequently_bought_together",
                                             seeds=[p["product_id"] for p in bought], limit=3)
                if picks:
                    await self.send("cross_sell", template="cross_sell", data={"products": picks})
            else:
                name = product.get("name") or product["product_id"]
                await self.delay_until(self.after_entry(offset), f"when her {name} runs low")
                if self.reordered(product["product_id"]):
                    self.branch(f"replenish {product['product_id']}", "skipped: she reordered it")
                    continue
                await self.send(f"replenish:{product['product_id'][:80]}", template="replenishment",
                                data={"product": product})

    async def send(self, step: str, *, template: str, data: dict[str, Any] | None = None,
                   coupon: Coupon | None = None) -> None:
        """On her best channel, by email when that one can't take it (for customers who
        entered before the change, by email only)."""
        if self.channel == "email":
            await self.send_email(step, template=template, data=data, coupon=coupon)
        else:
            await self.send_on(self.channel, step, template=template, data=data, coupon=coupon, fallback="email")

    @staticmethod
    def lasts(product: dict) -> bool:
        days = product.get("replenish_days")
        return isinstance(days, (int, float)) and not isinstance(days, bool) and 1 <= days <= 365

    @staticmethod
    def products(order: JourneyEvent | None) -> list[dict]:
        """The products of an order, as dicts with a product_id."""
        items = order.properties.get("products") if order else None
        found = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("product_id"), (str, int)) and str(item["product_id"]):
                found.append({**item, "product_id": str(item["product_id"])})
        return found

    @staticmethod
    def replenishments(bought: list[dict]) -> list[tuple[dict, int]]:
        """Products that run out, with their interval in days (1 to 365), one each."""
        found: dict[str, tuple[dict, int]] = {}
        for product in bought:
            if PostPurchase.lasts(product):
                found.setdefault(product["product_id"], (product, int(product["replenish_days"])))
        return list(found.values())[:MAX_REMINDERS]

    def ordered_again(self) -> bool:
        """A second order (for customers entering from the change on: earlier runs replay
        as they were recorded)."""
        return self.changed("post-purchase-2026-12-second-order-ends-offers") and any(
            event.name == "Order Completed" and event is not self.entry for event in self.events)

    def reordered(self, product_id: str) -> bool:
        """Did an order after her first one include this product?"""
        return any(event.name == "Order Completed" and event is not self.entry
                   and product_id in {p["product_id"] for p in self.products(event)} for event in self.events)
