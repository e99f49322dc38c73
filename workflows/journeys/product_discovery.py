"""Product discovery, as the founding guide tells it.

Any customer browses the shop. Below each product's information the page shows what
goes with it: bought together, you may also like, similar products, similar
categories, previously viewed (served to sojourn.js by the API; its impressions and
clicks are this journey's). On the site a slot shows what she may also like; if she
has bought before and hasn't added anything to her cart two days later, an email
brings her "you may also like" and what she looked at ("previously viewed"). A
shopper who never bought gets the first-purchase incentive's email instead, with her
code, never two follow-ups at once. The guide measures it by click-through rate,
add-to-cart rate and average order value.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, Reentry, journey
from workflows.segments import HAS_PURCHASED


@journey(
    name="product_discovery",
    enters_on="Product Viewed",  # everyone: the guide addresses all customers
    exits_on="Order Completed",
    goal=Goal("Product Added", within=timedelta(days=7), kpi="add-to-cart rate"),
    also_measures=(Goal("Message Clicked", within=timedelta(days=7), kpi="click-through rate", own=True,
                        per="delivery"),  # clicks on its own email, per email delivered
                   # Taps on its recommendations (the product page's block, the slot), per time shown.
                   Goal("Onsite Message Clicked", within=timedelta(days=7), kpi="recommendation click-through rate",
                        own=True, per="impression"),
                   Goal("Order Completed", within=timedelta(days=14), kpi="average order value", revenue="revenue")),
    reentry=Reentry.after(timedelta(days=14)),
    changes=("product-discovery-2026-12-all-customers",),
)
class ProductDiscovery(Journey):
    async def story(self) -> None:
        viewed = self.entry.text("product_id") if self.entry else ""
        picks = await self.recommend("you_may_also_like", seeds=[viewed] if viewed else [], limit=4)
        if picks:
            await self.send_onsite("picked_for_you", template="recommended_for_you", data={"products": picks})

        if self.added_to_cart():
            return
        if await self.wait_for("Product Added", within=timedelta(days=2), reason="two days to find something") is None:
            if self.changed("product-discovery-2026-12-all-customers") and not await self.in_segment(HAS_PURCHASED):
                self.branch("email", "skipped: she never bought (the first-purchase incentive writes to her)")
                return
            await self.send_email("discovery_email", template="product_discovery")

    def added_to_cart(self) -> bool:
        """Since she entered (an add before the on-site send was made counts too)."""
        return any(event.name == "Product Added" for event in self.events)
