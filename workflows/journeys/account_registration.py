"""Account registration, as the founding guide tells it.

A shopper checks out as a guest. The next day, on the channel where she is most
active and at her best hour, she is invited to create an account (her orders, her
favourites, faster checkout). Signing up ends the journey; a signup within 14 days of
her order counts toward the signup rate.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, Reentry, journey
from workflows.segments import GUEST_BUYER


@journey(
    name="account_registration",
    enters_on="Order Completed",
    only_for=GUEST_BUYER,  # ordered without an account (as of that order)
    exits_on="Signed Up",
    goal=Goal("Signed Up", within=timedelta(days=14), kpi="signup rate"),
    reentry=Reentry.after(timedelta(days=90)),  # one invitation a quarter at most
)
class AccountRegistration(Journey):
    async def story(self) -> None:
        await self.delay(timedelta(days=1), "a day after her guest checkout")
        channel = await self.best_channel(("email", "push", "onsite"))
        await self.wait_for_best_time(within=timedelta(hours=24))
        await self.send_on(channel, "invitation", template="account_registration")
