"""A journey whose first step sends at once, for bench/sending.py's event-to-send
latency: she signs up, and the welcome email goes."""

from workflows.kit import Journey, journey


@journey(name="bench_welcome", enters_on="Signed Up")
class BenchWelcome(Journey):
    async def story(self) -> None:
        await self.send_email("welcome_email", template="account_registration")
