"""The referrer's reward: a friend she referred placed her first order.

At once, on her best channel (email when that one can't take it), a thank-you with
her own coupon. One reward per friend.
"""

from datetime import timedelta

from workflows.kit import Journey, journey


@journey(
    name="referral_reward",
    enters_on="Referral Converted",  # recorded by the friend's welcome journey
    key="friend",
    params={"coupon_days": 30},
)
class ReferralReward(Journey):
    async def story(self) -> None:
        channel = await self.best_channel(("email", "push", "onsite"))
        coupon = await self.issue_coupon("referral_reward", expires_in=timedelta(days=self.param("coupon_days")),
                                         to_reach=channel, fallback="email")
        await self.send_on(channel, "reward", template="referral_reward", coupon=coupon, fallback="email")
