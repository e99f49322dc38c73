"""Small journeys that exercise one kit feature each, for tests/test_journey_kit.py."""

from __future__ import annotations

from datetime import time, timedelta

from sojourn.ground.calendar import WEEKDAYS
from workflows.kit import Goal, Joins, Journey, Leaves, On, Reentry, journey
from workflows.segments import FIRST_TIME_BUYER, LAPSED, LIKELY_BUYER, NEVER_PURCHASED, UNLIKELY_BUYER


@journey(name="probe_wait_for", enters_on="Checkout Started", listens_to=("Order Completed",))
class WaitForOrder(Journey):
    async def story(self) -> None:
        cart = self.entry.properties["cart_id"] if self.entry else None
        order = await self.wait_for(
            "Order Completed", within=timedelta(hours=2), where=lambda e: e.properties.get("cart_id") == cart
        )
        self.branch("ordered", order.properties["order_id"] if order else "none")


@journey(name="probe_local_time", enters_on="Morning Probe")
class LocalMorning(Journey):
    async def story(self) -> None:
        await self.delay_until_local(time(9, 30), weekdays=WEEKDAYS, reason="next weekday 09:30 local")
        self.branch("woke", "yes")


@journey(name="probe_date", enters_on="Date Probe")
class DateProbe(Journey):
    async def story(self) -> None:
        waited = await self.delay_until_date(
            self.entry.properties.get("renews_on") if self.entry else None, offset=-timedelta(days=2)
        )
        self.branch("waited", "yes" if waited else "no")


@journey(name="probe_split", enters_on="Split Probe")
class SplitProbe(Journey):
    async def story(self) -> None:
        skin = await self.trait("skin_type", "unknown")
        self.branch("skin", "dry" if skin == "dry" else "other")
        amount = (self.entry.properties.get("value") or 0) if self.entry else 0
        self.branch("basket", "big" if amount >= 50 else "small")
        variant = await self.experiment("reminder_copy", {"playful": 1, "plain": 1}, holdout=0.2)
        if variant != "control":
            await self.send_email(f"email_{variant}", template="cart_abandonment", data={"items": []})


@journey(name="probe_fallback", enters_on="Fallback Probe")
class FallbackProbe(Journey):
    async def story(self) -> None:
        data = {"items": [{"name": "Velvet Lipstick", "quantity": 1}], "cart_id": "c-9"}
        await self.send_preferred("nudge", channels=("push", "email"), template="cart_abandonment", data=data)
        await self.send_email("broken", template="does_not_exist")
        await self.send_email("after_broken", template="cart_abandonment", data=data, topic="transactional")


@journey(name="probe_chatty", enters_on="Chatty Started", listens_to=("Chatty Ping",))
class ChattyProbe(Journey):
    """Many events while it waits: its history grows and it must continue as new."""

    async def story(self) -> None:
        await self.delay(timedelta(days=3), "three quiet days")
        pings = sum(1 for e in self.events if e.name == "Chatty Ping")
        await self.send_email("summary", template="cart_abandonment", data={"items": [], "pings": pings})
        self.branch("pings", str(pings))


@journey(name="probe_once", enters_on="Welcome", reentry=Reentry.once())
class OnceProbe(Journey):
    async def story(self) -> None:
        self.branch("welcomed", "yes")


@journey(name="probe_click", enters_on="Click Probe", listens_to=("Message Clicked",))
class ClickProbe(Journey):
    async def story(self) -> None:
        await self.send_email("teaser", template="cart_abandonment", data={"items": []})
        clicked = await self.wait_for("Message Clicked", within=timedelta(days=2),
                                      where=lambda e: e.properties.get("step") == "teaser")
        self.branch("clicked", clicked.properties["url"] if clicked else "no")


@journey(name="probe_channels", enters_on="Channels Probe")
class ChannelsProbe(Journey):
    """The seed's retargeting ad (a webhook to the ad audience sync) and on-site messages."""

    async def story(self) -> None:
        await self.send_webhook("retargeting_ad", hook="ads", data={"audience": "cart_abandoners", "action": "add"})
        await self.send_onsite("greeting", template="greeting_bar")
        await self.send_onsite("banner", template="smart_banner", data={"title": "Your lipstick is waiting"})




@journey(name="probe_onsite", enters_on="Onsite Probe", listens_to=("Onsite Done",))
class OnsiteProbe(Journey):
    """On-site messages that stay up while the run waits, and come down when it ends."""

    async def story(self) -> None:
        await self.send_onsite("greeting", template="greeting_bar")
        await self.send_onsite("banner", template="smart_banner", data={"title": "Your lipstick is waiting"})
        await self.wait_for("Onsite Done", within=timedelta(days=1))


@journey(name="probe_fussy", enters_on=On("Fussy", where=lambda e: 1 / e.properties["n"] > 0))
class FussyProbe(Journey):
    """Its entry predicate raises on n=0: journey code the router runs, poisoned by data."""

    async def story(self) -> None:
        self.branch("entered", "yes")


@journey(name="probe_wall_clock", enters_on="Clock Probe")
class WallClockProbe(Journey):
    """Reads the wall clock in its story, which replay could never reproduce: the
    sandbox must stop it even though the kit it imports is passed through."""

    async def story(self) -> None:
        from datetime import datetime

        self.branch("now", datetime.now().isoformat())


@journey(name="probe_brittle", enters_on="Brittle Probe")
class BrittleProbe(Journey):
    """Its story trusts the data (`n` must be a whole number) and raises otherwise: the
    run must fail visibly, not sit forever with a failing workflow task."""

    async def story(self) -> None:
        assert self.entry is not None
        self.branch("n", str(int(self.entry.properties["n"])))
        await self.delay(timedelta(hours=1), "an hour later")


@journey(name="probe_segment", enters_on="Segment Probe", listens_to=("Check Again",))
class SegmentProbe(Journey):
    """Asks whether she has never purchased, and again after she says so."""

    async def story(self) -> None:
        await self.in_segment(NEVER_PURCHASED)
        if await self.wait_for("Check Again", within=timedelta(days=1)):
            await self.in_segment(NEVER_PURCHASED)


@journey(name="probe_bow_out", enters_on="Bow Out Probe", goal=Goal("Order Completed", within=timedelta(days=7)))
class BowOutProbe(Journey):
    """A first-order offer that bows out for customers who turn out to be VIPs."""

    async def story(self) -> None:
        if await self.trait("vip", False):
            await self.end("VIPs get another offer")
        await self.delay(timedelta(hours=1), "an hour later")


@journey(name="probe_only_for", enters_on="Product Viewed", only_for=NEVER_PURCHASED,
         exits_on=Leaves(NEVER_PURCHASED))
class OnlyForProbe(Journey):
    """For shoppers who never bought, from a product view until they buy."""

    async def story(self) -> None:
        await self.delay(timedelta(days=30), "a month")


@journey(name="probe_joins", enters_on=Joins(FIRST_TIME_BUYER), exits_on=Leaves(FIRST_TIME_BUYER))
class JoinsProbe(Journey):
    """From her first order until her second."""

    async def story(self) -> None:
        await self.delay(timedelta(days=30), "a month")


@journey(name="probe_lapsed", enters_on=Joins(LAPSED), exits_on=Leaves(LAPSED))
class LapsedProbe(Journey):
    """A win-back: from the day she lapses until she orders again."""

    async def story(self) -> None:
        await self.delay(timedelta(days=30), "a month")


@journey(name="probe_likely", enters_on=Joins(LIKELY_BUYER), exits_on=Leaves(LIKELY_BUYER))
class LikelyProbe(Journey):
    """Enters when the likelihood model's run makes her a likely buyer; splits on it."""

    async def story(self) -> None:
        self.branch("likelihood", "unlikely" if await self.in_segment(UNLIKELY_BUYER) else "likely enough")
        await self.delay(timedelta(days=7), "a week")


@journey(name="probe_coupon", enters_on="Coupon Probe")
class CouponProbe(Journey):
    """Issues a code from the offer the entry names, twice for one slot, and mails it."""

    async def story(self) -> None:
        offer = self.entry.text("offer") if self.entry else ""
        coupon = await self.issue_coupon(offer, expires_in=timedelta(days=14))
        again = await self.issue_coupon(offer, expires_in=timedelta(days=14))
        self.branch("same", str(coupon.code == again.code))
        await self.send_email("coupon_email", template="first_order_coupon", data={"offer": offer}, coupon=coupon)


TEST_JOURNEYS = (WaitForOrder, LocalMorning, DateProbe, SplitProbe, FallbackProbe, ChattyProbe, OnceProbe, ClickProbe,
                 ChannelsProbe, SegmentProbe, BowOutProbe, OnlyForProbe, JoinsProbe, LapsedProbe, CouponProbe,
                 OnsiteProbe)


@journey(name="probe_best_channel", enters_on="Best Channel Probe")
class BestChannelProbe(Journey):
    """Asks for her best channel, then sends the reminder there."""

    async def story(self) -> None:
        channel = await self.best_channel(("push", "email", "onsite"))
        if channel == "email":
            await self.send_email("reminder", template="cart_abandonment", data={"items": []})
        elif channel == "push":
            await self.send_push("reminder", template="cart_abandonment", data={"items": []})
        else:
            await self.send_onsite("reminder", template="greeting_bar")


@journey(name="probe_best_time", enters_on="Best Time Probe")
class BestTimeProbe(Journey):
    """Waits for her best hour this week (half of customers held out), then emails."""

    async def story(self) -> None:
        await self.wait_for_best_time(within=timedelta(days=7), holdout=0.5)
        await self.send_email("at_her_best_time", template="cart_abandonment", data={"items": []})


@journey(name="probe_audience", enters_on="Audience Probe", exits_on="Order Completed")
class AudienceProbe(Journey):
    """She joins the retargeting audience, and leaves it when her run ends."""

    async def story(self) -> None:
        await self.add_to_audience("cart_abandoners")
        await self.delay(timedelta(days=1), "a day in the audience")


@journey(name="probe_kpis", enters_on="KPI Probe", exits_on="Unsubscribe Me",
         goal=Goal("Order Completed", within=timedelta(days=7), revenue="revenue"),
         also_measures=(Goal("Product Added", within=timedelta(days=2), kpi="add-to-cart rate"),))
class KpiProbe(Journey):
    """Sends a teaser in one of two headlines; a shopper flagged "bow_out" ends early."""

    async def story(self) -> None:
        headline = await self.experiment("headline", {"a": 1, "b": 1})
        if self.entry is not None and self.entry.properties.get("bow_out"):
            await self.end("asked to bow out")
        await self.send_onsite(f"teaser_{headline}", template="greeting_bar")


TEST_JOURNEYS = (*TEST_JOURNEYS, BestChannelProbe, BestTimeProbe, AudienceProbe, KpiProbe)
