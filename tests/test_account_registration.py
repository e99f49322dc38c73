"""Account registration over simulated days: a guest buyer is invited to create an
account a day after her order, on her most active channel, at her best hour; signing
up ends it and counts toward the signup rate. A shopper with an account never enters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Event, JourneyRun, utcnow
from sojourn.ground.settings import Settings
from tests.conftest import Api, keep_history, open_api
from tests.support.push_receiver import PushReceiver
from tests.support.smtp import Inbox
from tests.test_engagement import sent
from tests.test_onsite_experiments import shown
from worker import build_worker
from workflows.journeys.account_registration import AccountRegistration


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as opened:
        yield opened


async def test_a_guest_buyer_is_invited_on_her_channel_at_her_time(env: WorkflowEnvironment, api: Api,
                                                                   sessions: Any, inbox: Inbox,
                                                                   customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                      "firstName": "Noa"}})
    await api.track(customer_id, "Order Completed", {"order_id": f"o-{customer_id}", "revenue": 30})
    handle = api.client.get_workflow_handle(AccountRegistration.spec.workflow_id(customer_id))
    await env.fast_forward(handle, timedelta(hours=23))
    assert inbox.to(customer_id) == []
    await env.fast_forward(handle, timedelta(hours=2))
    timeline = " ".join((await handle.query("state"))["timeline"])
    assert "most active channel: email (" in timeline, timeline  # her only channel: no push subscription
    assert "best time: " in timeline
    await env.fast_forward(handle, timedelta(hours=24))
    [mail] = inbox.to(customer_id)
    assert mail["Subject"] == "Noa, keep your orders in one place"
    # Every touchpoint: the site invites her on her visits too.
    [slot] = await shown(api, customer_id, "greeting_bar")
    assert slot["content"]["text"].startswith("Create your account")

    # Three days on, no account yet: a reminder on another channel. She has no browser
    # to push to, so it is skipped, and she gets no second email.
    await env.fast_forward(handle, timedelta(days=3))
    assert len(inbox.to(customer_id)) == 1
    assert (await handle.query("state"))["sends"]["reminder"] == "skipped"
    await api.track(customer_id, "Signed Up", {"method": "email"})
    result = await handle.result()
    assert (result["outcome"], result["converted"]) == ("exited", True), result
    await keep_history(handle, "account_registration_signed_up")


async def test_the_channel_where_she_is_most_active(env: WorkflowEnvironment, api: Api, sessions: Any,
                                                    inbox: Inbox, push_service: PushReceiver,
                                                    customer_id: str) -> None:
    """She tapped both pushes she ever got (engagement: push, 100%) but reads her email on
    four days and visits the site on three: by activity, email. By hand: email 4 days,
    push 2, on-site 3. Three days later, the reminder by push, and she taps it."""
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    browser = push_service.browser(customer_id).subscription(push_service.base_url)
    assert (await api.post(f"/v1/customers/{customer_id}/push-subscriptions", browser)).status_code == 201
    await sent(sessions, customer_id, "push", 2)
    await sent(sessions, customer_id, "email", 6)
    # Days are counted by the calendar (UTC), so her events hang off noon: a few hours either
    # side stay on their day whatever the hour this runs (at 00:07 "3.1 days ago" fell on day 4).
    noon = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    async with sessions() as session:
        def event(days: float, kind: str, name: str | None, **props: Any) -> Event:
            return Event(message_id=str(uuid.uuid4()), type=kind, customer_id=customer_id, name=name,
                         properties=props, context={}, timestamp=noon - timedelta(days=days))
        session.add_all([event(d, "track", "Email Opened", channel="email", machine=False) for d in (3, 9, 20, 40)])
        session.add_all([event(d + 0.1, "track", "Email Opened", channel="email", machine=False) for d in (3, 9)])
        session.add_all([event(d, "track", "Email Opened", channel="email", machine=True) for d in (5, 6, 7)])
        session.add_all([event(d, "track", "Message Clicked", channel="push") for d in (2, 30)])
        session.add_all([event(d + h / 24, "page", None, path="/") for d in (4, 12, 50) for h in range(5)])
        await session.commit()
    await api.track(customer_id, "Order Completed", {"order_id": f"o-{customer_id}", "revenue": 30})
    handle = api.client.get_workflow_handle(AccountRegistration.spec.workflow_id(customer_id))
    await env.fast_forward(handle, timedelta(days=2, hours=1))
    timeline = " ".join((await handle.query("state"))["timeline"])
    assert "most active channel: email (active on 4 days, the most of email 4, push 2, onsite 3)" in timeline, \
        timeline
    assert [m["Subject"] for m in inbox.to(customer_id)] == ["Hello, keep your orders in one place"]
    assert push_service.to(customer_id) == []
    await env.fast_forward(handle, timedelta(days=3))
    assert [d.payload["title"] for d in push_service.to(customer_id)] == ["Your account is one step away"]


async def test_a_shopper_with_an_account_never_enters(api: Api, sessions: Any, customer_id: str) -> None:
    await api.track(customer_id, "Signed Up", {"method": "email"})
    await api.track(customer_id, "Order Completed", {"order_id": f"o-{customer_id}", "revenue": 30})
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(JourneyRun).where(
            JourneyRun.customer_id == customer_id, JourneyRun.journey == "account_registration")) == 0
