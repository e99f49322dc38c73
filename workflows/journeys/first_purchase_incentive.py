"""The first-purchase incentive, as the founding guide tells it.

A shopper who has never bought comes to the site (any page she opens, or a product she
views from an app). A sticky greeting bar on the site
offers her an exclusive first-order discount. If she still hasn't ordered two days
later, an email brings her a unique coupon code, valid for two weeks. When she orders,
the journey ends and the bar comes down; a shopper who has bought before never enters.
The guide measures it by add-to-cart rate and conversion rate.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, Leaves, On, Reentry, journey
from workflows.segments import NEVER_PURCHASED


@journey(
    name="first_purchase_incentive",
    enters_on=(On(type="page"), "Product Viewed"),  # the guide shows the bar on the site, not only on products
    only_for=NEVER_PURCHASED,
    exits_on=Leaves(NEVER_PURCHASED),  # her first order
    goal=Goal("Order Completed", within=timedelta(days=16), kpi="conversion rate", revenue="revenue"),
    also_measures=(Goal("Product Added", within=timedelta(days=16), kpi="add-to-cart rate"),),
    reentry=Reentry.once(),  # one first-order offer per shopper
    params={"first_order_offer": "15% off your first order", "first_order_coupon_days": 14},
)
class FirstPurchaseIncentive(Journey):
    async def story(self) -> None:
        offer = self.param("first_order_offer")
        await self.send_onsite("greeting_bar", template="first_order_bar", data={"offer": offer})

        await self.delay(timedelta(days=2), "two days to think it over")
        coupon = await self.issue_coupon("first_order", expires_in=timedelta(days=self.param("first_order_coupon_days")),
                                         to_reach="email")  # a code only for someone the email reaches
        await self.send_email("coupon_email", template="first_order_coupon", data={"offer": offer}, coupon=coupon)
