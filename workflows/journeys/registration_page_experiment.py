"""The registration page's 50/50 A/B test, as the founding guide tells it.

A first-time visitor opens the registration page. Half see variant A of its key
elements (headline, image, button), half see B: the shop's page has one slot for it
and changes no code between variants. She keeps her variant once she signs in. The
guide measures it by signup rate, per variant.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, On, Reentry, Setting, journey
from workflows.segments import FIRST_TIME_VISITOR

VARIANTS = {
    "a": {"title": "Create your account", "text": "Track your orders and save your favourites.",
          "image": "/img/register-a.jpg", "button": "Sign up"},
    "b": {"title": "Join and get 10% off your first order", "text": "It takes 30 seconds.",
          "image": "/img/register-b.jpg", "button": "Join now"},
}


@journey(
    name="registration_page_test",
    enters_on=On(type="page", props={"path": Setting("registration_path")}),
    only_for=FIRST_TIME_VISITOR,
    exits_on="Signed Up",
    goal=Goal("Signed Up", within=timedelta(days=1), kpi="signup rate"),
    reentry=Reentry.once(),  # one variant, one chance to count, per visitor
)
class RegistrationPageTest(Journey):
    async def story(self) -> None:
        variant = await self.experiment("registration_page", {"a": 0.5, "b": 0.5})
        await self.send_onsite("registration_page", template="registration_hero", data=VARIANTS[variant])
