"""Loyalty signup abandonment, as the founding guide tells it.

She is not a member (no "Loyalty Signed Up", no `loyalty_member` trait), looks at the
loyalty programme's signup page and does not sign up. A day later
an email shows her what members get. Signing up ends the journey at any moment; a
signup within 7 days of entry counts toward the signup rate.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, On, Reentry, Setting, journey
from workflows.segments import NOT_LOYALTY_MEMBER


@journey(
    name="loyalty_signup_abandonment",
    enters_on=On(type="page", props={"path": Setting("loyalty_signup_path")}),
    only_for=NOT_LOYALTY_MEMBER,  # a member who looks at the page again is not abandoning anything
    exits_on="Loyalty Signed Up",
    goal=Goal("Loyalty Signed Up", within=timedelta(days=7), kpi="signup rate"),
    also_measures=(Goal("Message Clicked", within=timedelta(days=7), kpi="email click-through rate", own=True,
                        per="delivery"),),
    reentry=Reentry.after(timedelta(days=30)),  # one reminder a month at most
)
class LoyaltySignupAbandonment(Journey):
    async def story(self) -> None:
        await self.delay(timedelta(days=1), "a day after she looked at the signup page")
        await self.send_email("email_benefits", template="loyalty_signup_abandonment")
