"""Double opt-in: she asked for marketing email from a browser (the wheel's box), so
the address must be hers before anything marketing goes to it.

At once, a transactional email asks her to confirm, with a signed link that works
for a week and only for the address it was sent to. Her click on that page subscribes
her and tells every journey "Newsletter Subscribed", which ends this one; a
confirmation within 7 days counts toward the confirmation rate. Not in the founding
guide: the law of the shops it serves (GDPR, and Germany's UWG in particular).
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, journey


@journey(
    name="email_confirmation",
    enters_on="Email Confirmation Requested",
    exits_on="Newsletter Subscribed",
    goal=Goal("Newsletter Subscribed", within=timedelta(days=7), kpi="confirmation rate"),
)
class EmailConfirmation(Journey):
    async def story(self) -> None:
        # Transactional: she asked for it this minute, so no quiet hours, and her
        # (still pending) marketing consent does not hold it back.
        await self.send_email("confirmation", template="email_confirmation", topic="transactional")
