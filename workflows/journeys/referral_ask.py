"""Post-delivery referral ask, as the founding guide tells it.

Her order is delivered. A few days later (3 by default) she is asked to refer a
friend, with an incentive for both of them and her own signed referral link. If she
refers someone in the meantime there is nothing to ask, and the journey ends. One
run per order; a referral within 14 days of delivery counts toward the referral rate.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, journey


@journey(
    name="referral_ask",
    enters_on="Order Delivered",
    key="order_id",
    exits_on="Referral Sent",
    goal=Goal("Referral Sent", within=timedelta(days=14), kpi="referral rate"),
    params={"referral_delay_days": 3, "referral_incentive": "10% off for you and a friend"},
)
class ReferralAsk(Journey):
    async def story(self) -> None:
        days = self.param("referral_delay_days")
        await self.delay(timedelta(days=days), f"{days} days after delivery")
        await self.send_email(
            "email_referral",
            template="referral_ask",
            data={"order_id": self.start.journey_key, "incentive": self.param("referral_incentive")},
        )
