"""The registration page's 50/50 A/B test, as the founding guide tells it.

A first-time visitor opens the registration page, on the website or in the app (its
`Register` screen). Half see variant A of its key elements (headline, image, button),
half see B. What each variant shows is content (templates/onsite/registration_hero.json),
not code: the website's slot and the app read the same message from the API
(`GET /v1/customers/{id}/messages?placement=registration_hero`). She keeps her variant
once she signs in. The guide measures it by signup rate, per variant.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, On, Reentry, Setting, journey
from workflows.segments import FIRST_TIME_VISITOR


@journey(
    name="registration_page_test",
    enters_on=(On(type="page", props={"path": Setting("registration_path")}),  # the website's page
               On("Register", type="screen")),  # the app's screen (Segment's mobile SDKs send screens)
    only_for=FIRST_TIME_VISITOR,
    exits_on="Signed Up",
    goal=Goal("Signed Up", within=timedelta(days=1), kpi="signup rate"),
    reentry=Reentry.once(),  # one variant, one chance to count, per visitor
)
class RegistrationPageTest(Journey):
    async def story(self) -> None:
        variant = await self.experiment("registration_page", {"a": 0.5, "b": 0.5})
        await self.send_onsite("registration_page", template="registration_hero", data={"variant": variant})
