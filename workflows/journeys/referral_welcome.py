"""A referred friend's welcome: the other side of the referral.

She lands on the store through a friend's referral link (the store's page tells
Sojourn, and only someone other than the referrer counts). She has never ordered: a
first-order coupon waits for her on the site at once. Her first order within 30 days
is the conversion, and it is credited to her friend ("Referral Converted"), whose
reward follows (workflows/journeys/referral_reward.py).
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, Reentry, journey
from workflows.segments import NEVER_PURCHASED

WINDOW = timedelta(days=30)


@journey(
    name="referral_welcome",
    enters_on="Referral Visited",
    only_for=NEVER_PURCHASED,  # the incentive is for a first order
    listens_to="Order Completed",
    goal=Goal("Order Completed", within=timedelta(days=30), kpi="conversion rate", revenue="revenue"),
    reentry=Reentry.once(),  # one welcome, whoever else's link she comes through later
    params={"coupon_days": 30},
)
class ReferralWelcome(Journey):
    async def story(self) -> None:
        referrer = self.entry.text("referrer") if self.entry else ""
        coupon = await self.issue_coupon("referral_friend", expires_in=timedelta(days=self.param("coupon_days")),
                                         to_reach="onsite")
        await self.send_onsite("welcome", template="referral_welcome", coupon=coupon)

        order = await self.wait_for("Order Completed", within=WINDOW, reason="her first order, through her friend")
        if order is None or not referrer:
            return
        await self.record_event("credited", customer_id=referrer, event="Referral Converted", properties={
            "friend": self.start.customer_id, "order_id": order.text("order_id"),
            "revenue": order.properties.get("revenue")})
