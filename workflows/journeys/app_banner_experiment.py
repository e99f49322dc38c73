"""The app-download smart banner A/B test, as the founding guide tells it.

A shopper on her phone's browser has just ordered; she has not installed the app. On
the order success page a smart banner invites her to get it, in one of two versions.
If she taps it, and installs the app within a week, that counts toward
click-to-install. The guide measures banner click-through and click-to-install.
What each version says is content (`onsite/app_banner`), which the marketer edits.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, JourneyEvent, On, Reentry, Setting, journey
from workflows.segments import NO_APP


def on_mobile_web(event: JourneyEvent) -> bool:
    return event.device == "mobile"


def banner_tap(event: JourneyEvent) -> bool:
    return event.text("journey") == "app_banner_test"


BANNER_TAPPED = On("Onsite Message Clicked", where=banner_tap)


@journey(
    name="app_banner_test",
    enters_on=On(type="page", props={"path": Setting("order_success_path")}, where=on_mobile_web),
    only_for=NO_APP,
    listens_to=BANNER_TAPPED,
    exits_on="Application Installed",
    goal=Goal("Application Installed", within=timedelta(days=7), kpi="click-to-install rate", after=BANNER_TAPPED),
    # Its own banner's taps per impression, never another journey's on-site clicks.
    also_measures=(Goal("Onsite Message Clicked", within=timedelta(days=3), kpi="banner click-through rate",
                        own=True, per="impression"),
                   # The guide's second KPI: shoppers without the app who installed it (tapped or not).
                   Goal("Application Installed", within=timedelta(days=7), kpi="new mobile users")),
    reentry=Reentry.after(timedelta(days=30)),
    params={"app_download_url": "https://apps.apple.com/app/beauty-shop/id000000000"},
)
class AppBannerTest(Journey):
    async def story(self) -> None:
        variant = await self.experiment("app_banner", {"a": 0.5, "b": 0.5})
        await self.send_onsite("app_banner", template="app_banner",
                               data={"variant": variant, "url": self.param("app_download_url")})

        tapped = await self.wait_for(BANNER_TAPPED, within=timedelta(days=3), reason="the banner waits for a tap")
        self.branch("banner", "tapped" if tapped else "not tapped")
