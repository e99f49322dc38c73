"""Account registration, as the founding guide tells it.

A shopper checks out as a guest. The next day, on the channel where she is most
active (the days she opens her email, taps a push, visits the site) and at her best
hour, she is invited to create an account (her orders, her favourites, faster
checkout). The guide reaches her at every touchpoint: the site shows the invitation on
her visits for three days too, and if she hasn't signed up three days later, a reminder
comes on another channel. Signing up ends the journey; a signup within 14 days of her
order counts toward the signup rate.
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
    changes=("account-registration-2026-12-most-active-and-second-touch",),
)
class AccountRegistration(Journey):
    async def story(self) -> None:
        await self.delay(timedelta(days=1), "a day after her guest checkout")
        if not self.changed("account-registration-2026-12-most-active-and-second-touch"):
            # Customers who entered before: one invitation, on the channel she engages with most.
            channel = await self.best_channel(("email", "push", "onsite"))
            await self.wait_for_best_time(within=timedelta(hours=24))
            await self.send_on(channel, "invitation", template="account_registration")
            return

        channel = await self.best_channel(("email", "push", "onsite"), by="activity")
        await self.wait_for_best_time(within=timedelta(hours=24))
        await self.send_on(channel, "invitation", template="account_registration", fallback="email")
        if channel != "onsite":  # every touchpoint: the site invites her on her visits too
            await self.send_onsite("invitation_on_site", template="account_registration")

        await self.delay(timedelta(days=3), "three days to sign up")
        second = "push" if channel == "email" else "email"
        await self.send_on(second, "reminder", template="account_registration_reminder")
