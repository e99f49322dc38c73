"""Her engagement history and best channel: clicks ÷ deliveries over six months,
smoothed, with a minimum of data, ties to her latest engagement, only channels she can
be reached on; the choice journaled with its reason. The open pixel: machine opens
(Apple Mail Privacy Protection, scanners, fetched on delivery) are recorded and never
count."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Customer, Event, Message, utcnow
from sojourn.ground.settings import Settings
from sojourn.intelligence.engagement import MACHINE_SECONDS, ChannelStats, choose, history, machine_open
from tests.conftest import Api, keep_history, open_api
from tests.support.journeys import TEST_JOURNEYS, BestChannelProbe
from tests.support.push_receiver import PushReceiver
from tests.support.smtp import Inbox
from worker import build_worker
from workflows.registry import JOURNEYS

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
EVERYWHERE = {"push", "email", "onsite"}
IPHONE_MAIL = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


def stats(deliveries: int, clicks: int, last: int | None = None) -> ChannelStats:
    return ChannelStats(deliveries, clicks, NOW - timedelta(days=last) if last is not None else None)


def test_the_channel_she_clicks_most_wins_once_there_is_enough_data() -> None:
    history_ = {"push": stats(4, 0), "email": stats(5, 3, last=2)}
    choice = choose(["push", "email", "onsite"], history_, EVERYWHERE)
    assert choice.channel == "email"
    assert choice.reason.startswith("3 clicks of 5 messages"), choice.reason
    # Smoothed: one send and one click does not beat a steady record.
    steady = {"push": stats(1, 1), "email": stats(40, 16)}
    assert choose(["push", "email"], steady, EVERYWHERE).channel == "email"


def test_too_little_data_keeps_the_journeys_order() -> None:
    assert choose(["push", "email"], {"email": stats(2, 2)}, EVERYWHERE).reason.startswith("too little history")
    assert choose(["push", "email"], {"email": stats(2, 2)}, EVERYWHERE).channel == "push"
    one_channel = {"email": stats(9, 5)}  # plenty, but on one channel only
    assert choose(["push", "email"], one_channel, EVERYWHERE).channel == "push"


def test_ties_go_to_her_latest_engagement_and_unreachable_channels_are_out() -> None:
    tied = {"push": stats(4, 1, last=30), "email": stats(4, 1, last=1)}
    assert choose(["push", "email"], tied, EVERYWHERE).channel == "email"
    assert choose(["push", "email"], {**tied, "push": stats(4, 1, last=0)}, EVERYWHERE).channel == "push"
    assert choose(["push", "email"], {"push": stats(9, 9), "email": stats(9, 0)}, {"email", "onsite"}).channel == "email"
    assert choose(["push"], {}, set()).reason.startswith("not reachable")
    with pytest.raises(ValueError):
        choose([], {}, EVERYWHERE)


def test_machine_opens_are_told_apart() -> None:
    assert machine_open("Mozilla/5.0", 3600) == "Apple Mail Privacy Protection"
    assert machine_open("Mozilla/5.0 (compatible; Barracuda Sentinel)", 3600) == "security scanner or bot"
    assert machine_open(IPHONE_MAIL, 0.5) == "opened on delivery"
    assert machine_open(None, 3600) == "no user agent"
    assert machine_open(IPHONE_MAIL, 3600) is None
    assert machine_open("Thunderbird/128.0", None) is None


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    on = settings.model_copy(update={"email_open_pixel": True})
    async with build_worker(env.client, on, sessions, extra_workflows=[BestChannelProbe]), \
            open_api(on, env.client, journeys=(*JOURNEYS, *TEST_JOURNEYS)) as opened:
        yield opened


async def sent(sessions: Any, customer_id: str, channel: str, count: int) -> None:
    """Earlier messages in her ledger (as the send activities record them)."""
    async with sessions() as session:
        for _ in range(count):
            session.add(Message(idempotency_key=f"earlier/{uuid.uuid4()}", customer_id=customer_id, journey="earlier",
                                workflow_id="earlier", step="s", channel=channel, status="sent", attempts=1,
                                created_at=utcnow() - timedelta(days=10), sent_at=utcnow() - timedelta(days=10)))
        await session.commit()



async def taps_pushes(api: Any, sessions: Any, push_service: Any, customer_id: str) -> dict[str, Any]:
    """A customer with an email address and a browser to push to, who tapped 2 of her 3
    pushes and none of her 3 emails: her best channel is push. Her browser's subscription."""
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                      "firstName": "Mia"}})
    browser: dict[str, Any] = push_service.browser(customer_id).subscription(push_service.base_url)
    assert (await api.post(f"/v1/customers/{customer_id}/push-subscriptions", browser)).status_code == 201
    await sent(sessions, customer_id, "push", 3)
    await sent(sessions, customer_id, "email", 3)
    for _ in range(2):
        await api.track(customer_id, "Message Clicked", {"channel": "push", "url": "https://beauty.test/"})
    return browser

async def test_her_clicks_choose_the_channel_and_machine_opens_never_count(
        api: Api, sessions: Any, inbox: Inbox, push_service: PushReceiver, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    browser = push_service.browser(customer_id).subscription(push_service.base_url)
    assert (await api.post(f"/v1/customers/{customer_id}/push-subscriptions", browser)).status_code == 201
    await sent(sessions, customer_id, "push", 4)
    await sent(sessions, customer_id, "email", 3)
    for _ in range(2):  # she clicked two of the emails' links
        await api.track(customer_id, "Message Clicked", {"channel": "email", "journey": "earlier", "url": "https://beauty.test/"})

    await api.track(customer_id, "Best Channel Probe")
    handle = api.client.get_workflow_handle(BestChannelProbe.spec.workflow_id(customer_id))
    result = await handle.result()
    assert result["sends"] == {"reminder": "sent"}
    timeline = " ".join((await handle.query("state"))["timeline"])
    assert "best channel: email (2 clicks of 3 messages" in timeline, timeline
    await keep_history(handle, "probe_best_channel")
    [mail] = inbox.to(customer_id)

    # The email carries the open pixel. Apple's proxy fetches it: recorded, flagged, not counted.
    html = mail.get_body(("html",)).get_content()
    [pixel] = re.findall(r'<img src="(https://sojourn\.test/v1/o/[^"]+)"', html)
    path = pixel.removeprefix("https://sojourn.test").replace("&amp;", "&")
    for agent in ("Mozilla/5.0", IPHONE_MAIL):
        if agent == IPHONE_MAIL:
            await asyncio.sleep(MACHINE_SECONDS)  # a person opens it later than on delivery
        fetched = await api.http.get(path, headers={"User-Agent": agent})
        assert (fetched.status_code, fetched.headers["content-type"]) == (200, "image/gif")
    await api.settled()
    async with sessions() as session:
        opens = (await session.scalars(select(Event.properties).where(
            Event.customer_id == customer_id, Event.name == "Email Opened").order_by(Event.id))).all()
        her = await history(session, customer_id, utcnow())
    assert [(o["machine"], o["machine_reason"]) for o in opens] == [(True, "Apple Mail Privacy Protection"),
                                                                   (False, None)]
    assert (opens[1]["step"], opens[1]["journey"]) == ("reminder", "probe_best_channel")
    assert her["email"].deliveries == 4 and her["email"].clicks == 2, "opens are no clicks"
    assert her["push"].deliveries == 4 and her["push"].clicks == 0


async def test_a_machine_only_open_is_not_her_latest_engagement(sessions: Any, customer_id: str) -> None:
    async with sessions() as session:
        session.add(Customer(id=customer_id, traits={}, created_at=utcnow(), updated_at=utcnow()))
        for machine, days in ((True, 1), (False, 20)):
            session.add(Event(message_id=str(uuid.uuid4()), type="track", customer_id=customer_id, name="Email Opened",
                              properties={"channel": "email", "machine": machine}, context={},
                              timestamp=utcnow() - timedelta(days=days)))
        await session.commit()
        her = await history(session, customer_id, utcnow())
    assert (utcnow() - her["email"].last_engaged_at).days == 20


@hsettings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(min_size=1, max_size=200), agent=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                                                             max_size=100))
async def test_no_pixel_fetch_gets_a_5xx(api: Api, token: str, agent: str) -> None:
    response = await api.http.get(f"/v1/o/{quote(token, safe='')}", headers={"User-Agent": agent})
    assert response.status_code in (400, 404), response.text
