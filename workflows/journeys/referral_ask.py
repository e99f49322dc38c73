"""Post-delivery referral ask, as the founding guide tells it.

Her order is delivered. A few days later (3 by default) she is asked to refer a
friend, with an incentive for both of them and her own signed referral link, by email
and on the site (the `referral_prompt` slot). One run per order.

What Sojourn sees counts: her link opened by someone else (the friend lands on the
store through it: the referral rate, within 14 days), and that friend's first order
(the referral conversion rate, within 30 days; workflows/journeys/referral_welcome.py
credits it to her). If a friend has opened her link by the time of the ask, there is
nothing left to ask; a referral through the shop's own form (`Referral Sent`) ends it.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, journey

# The goal runs started before the change converted on: the shop's own `Referral Sent`.
SENT = Goal("Referral Sent", within=timedelta(days=14), kpi="referral rate")


@journey(
    name="referral_ask",
    enters_on="Order Delivered",
    key="order_id",
    exits_on="Referral Sent",
    goal=Goal("Referral Link Opened", within=timedelta(days=14), kpi="referral rate"),
    also_measures=(Goal("Referral Converted", within=timedelta(days=30), kpi="referral conversion rate"),),
    params={"referral_delay_days": 3, "referral_incentive": "10% off for you and a friend"},
    changes=("referral-2026-12-on-site-prompt",),
)
class ReferralAsk(Journey):
    async def story(self) -> None:
        days = self.param("referral_delay_days")
        await self.delay(timedelta(days=days), f"{days} days after delivery")
        if self.changed("referral-2026-12-on-site-prompt") and self.link_opened():
            self.branch("ask", "skipped: a friend has opened her link already")
            return
        ask = {"order_id": self.start.journey_key, "incentive": self.param("referral_incentive")}
        await self.send_email("email_referral", template="referral_ask", data=ask)
        if self.changed("referral-2026-12-on-site-prompt"):
            # The guide promotes it on the site too: her link in the shop's referral slot.
            await self.send_onsite("referral_prompt", template="referral_prompt", data=ask)

    def run_goal(self) -> Goal | None:
        return self.spec.goal if self.started_with("referral-2026-12-on-site-prompt") else SENT

    def link_opened(self) -> bool:
        """Someone else opened her referral link since she entered (the goal: the run
        hears of it, and then its story is over)."""
        return any(event.name == "Referral Link Opened" for event in self.events)
