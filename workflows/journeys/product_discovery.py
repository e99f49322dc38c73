"""Product discovery, as the founding guide tells it.

A customer who has bought before comes back and browses. On the site a slot shows
what she may also like; if she hasn't added anything to her cart two days later, an
email brings her "you may also like" and what she looked at ("previously viewed").
The guide measures it by click-through rate, add-to-cart rate and average order value.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, Reentry, journey
from workflows.segments import HAS_PURCHASED


@journey(
    name="product_discovery",
    enters_on="Product Viewed",
    only_for=HAS_PURCHASED,  # first-time shoppers get the first-purchase incentive instead
    exits_on="Order Completed",
    goal=Goal("Product Added", within=timedelta(days=7), kpi="add-to-cart rate"),
    also_measures=(Goal("Message Clicked", within=timedelta(days=7), kpi="click-through rate", own=True,
                        per="delivery"),  # clicks on its own email, per email delivered
                   Goal("Order Completed", within=timedelta(days=14), kpi="average order value", revenue="revenue")),
    reentry=Reentry.after(timedelta(days=14)),
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
            await self.send_email("discovery_email", template="product_discovery")

    def added_to_cart(self) -> bool:
        """Since she entered (an add before the on-site send was made counts too)."""
        return any(event.name == "Product Added" for event in self.events)
