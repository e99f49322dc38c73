"""Win-back for past customers, as the founding guide tells it.

She has ordered before, but not in the last 60 days: she joins the LAPSED segment,
found by a Temporal Schedule as time passes, with no event of hers. On the channel
where she engages most (email when that can't reach her) she gets a "we miss you"
with what she may like. If she hasn't ordered a week later, a coupon, spent only on
those unlikely to come back by themselves: a likely buyer (the likelihood model gives
her an even chance or better of an order within 14 days) gets none. With no model,
nobody is a likely buyer, and everyone gets the coupon. An order within 30 days is the
conversion, and it ends the journey.

One in ten lapsed customers is held out and gets nothing, so the lift is measured
rather than claimed: the journey's report per variant sets `win_back` against
`control` (customers come back on their own too).
"""

from datetime import timedelta

from workflows.kit import Goal, Joins, Journey, journey
from workflows.segments import LAPSED, LIKELY_BUYER

CHANNELS = ("email", "push", "onsite")


@journey(
    name="win_back",
    enters_on=Joins(LAPSED),  # her last order turned 60 days old
    exits_on="Order Completed",
    goal=Goal("Order Completed", within=timedelta(days=30), kpi="conversion rate", revenue="revenue"),
    also_measures=(Goal("Message Clicked", within=timedelta(days=30), kpi="click-through rate", own=True,
                        per="delivery"),),
    params={"holdout": 0.1, "coupon_after_days": 7, "coupon_days": 14},
    changes=("win-back-2026-12-coupon-for-the-unlikely",),
)
class WinBack(Journey):
    async def story(self) -> None:
        if await self.experiment("win_back", {"win_back": 1.0}, holdout=self.param("holdout")) == "control":
            # Held out: nothing is sent, but her order still counts, for the lift.
            self.branch("holdout", "nothing sent: she measures what the journey adds")
            return

        channel = await self.best_channel(CHANNELS)
        picks = await self.recommend("you_may_also_like", limit=4)
        await self.send_on(channel, "we_miss_you", template="win_back", data={"products": picks},
                           fallback="email")

        days = self.param("coupon_after_days")
        await self.delay(timedelta(days=days), f"{days} days for her to come back on her own")
        # Runs that entered before the change replay as they were recorded: everyone's coupon.
        if self.changed("win-back-2026-12-coupon-for-the-unlikely") and await self.in_segment(LIKELY_BUYER):
            self.branch("coupon", "kept: she is likely to come back by herself")
            return
        coupon = await self.issue_coupon("win_back", expires_in=timedelta(days=self.param("coupon_days")),
                                         to_reach=channel, fallback="email")
        await self.send_on(channel, "coupon", template="win_back_coupon", data={"products": picks},
                           coupon=coupon, fallback="email")
