"""Lead capture with a spin-to-win wheel, as the founding guide tells it.

A shopper who is not on the newsletter and has never bought browses the shop. A
spin-to-win popup offers her a first-purchase reward: she gives her email, and agrees to hear from us, before
the wheel spins (the wheel draws on the server, once per shopper and per address) and
shows her prize, a coupon code. If she hasn't ordered two days after winning, an email
reminds her of the code. Her order ends the journey at any moment.
The guide measures it by spin click-through rate, lead rate and conversion rate, and
by average session duration: for those who saw the wheel against those who didn't,
and per variant (sojourn/analytics/sessions.py).
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, On, Reentry, journey
from workflows.segments import PROSPECT

WHEEL_SHOWN = timedelta(days=3)  # as long as the popup's TTL


@journey(
    name="lead_capture",
    enters_on=On(type="page"),  # any page she opens
    only_for=PROSPECT,  # not on the newsletter, and never bought: the prize is for a first order
    listens_to="Wheel Spun",
    exits_on="Order Completed",
    goal=Goal("Order Completed", within=timedelta(days=14), kpi="conversion rate", revenue="revenue"),
    also_measures=(
        Goal("Wheel Spun", within=WHEEL_SHOWN, kpi="spin click-through rate", per="impression"),  # per popup seen
        Goal("Lead Captured", within=WHEEL_SHOWN, kpi="lead rate"),
    ),
    reentry=Reentry.after(timedelta(days=30)),  # a wheel a month at most
    params={"lead_wheel": "first_order"},
    sessions_within=timedelta(days=14),  # the guide's third measure: average session duration
)
class LeadCapture(Journey):
    async def story(self) -> None:
        await self.send_onsite("wheel_popup", template="spin_to_win", data={"wheel": self.param("lead_wheel")})

        spun = await self.wait_for("Wheel Spun", within=WHEEL_SHOWN, reason="the wheel waits for her spin")
        if spun is None or not spun.text("coupon"):
            return  # she didn't spin, or won nothing to remind her of

        await self.delay(timedelta(days=2), "two days to use her prize")
        await self.send_email("prize_reminder", template="wheel_prize", data={
            "label": spun.text("label"), "code": spun.text("coupon"), "expires_at": spun.text("coupon_expires_at"),
        })
