"""Account registration over simulated days: a guest buyer is invited to create an
account a day after her order, on her most active channel, at her best hour; signing
up ends it and counts toward the signup rate. A shopper with an account never enters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import JourneyRun
from sojourn.ground.settings import Settings
from tests.conftest import Api, keep_history, open_api
from tests.support.push_receiver import PushReceiver
from tests.support.smtp import Inbox
from worker import build_worker
from workflows.journeys.account_registration import AccountRegistration


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as opened:
        yield opened


async def test_a_guest_buyer_is_invited_on_her_channel_at_her_time(env: WorkflowEnvironment, api: Api,
                                                                   inbox: Inbox, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                      "firstName": "Noa"}})
    await api.track(customer_id, "Order Completed", {"order_id": f"o-{customer_id}", "revenue": 30})
    handle = api.client.get_workflow_handle(AccountRegistration.spec.workflow_id(customer_id))
    await env.fast_forward(handle, timedelta(hours=23))
    assert inbox.to(customer_id) == []
    await env.fast_forward(handle, timedelta(hours=2))
    timeline = " ".join((await handle.query("state"))["timeline"])
    assert "best channel: email (" in timeline, timeline  # her only channel: no push subscription
    assert "best time: " in timeline
    await env.fast_forward(handle, timedelta(hours=24))
    [mail] = inbox.to(customer_id)
    assert mail["Subject"] == "Noa, keep your orders in one place"
    await api.track(customer_id, "Signed Up", {"method": "email"})
    result = await handle.result()
    assert (result["outcome"], result["converted"]) == ("exited", True), result
    await keep_history(handle, "account_registration_signed_up")


async def test_her_push_wins_when_she_clicks_pushes(env: WorkflowEnvironment, api: Api, inbox: Inbox,
                                                    push_service: PushReceiver, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    browser = push_service.browser(customer_id).subscription(push_service.base_url)
    assert (await api.post(f"/v1/customers/{customer_id}/push-subscriptions", browser)).status_code == 201
    from tests.test_engagement import sent  # her history: pushes she clicks, emails she doesn't
    await sent(api.sessions, customer_id, "push", 3)
    await sent(api.sessions, customer_id, "email", 3)
    for _ in range(2):
        await api.track(customer_id, "Message Clicked", {"channel": "push", "url": "https://beauty.test/"})
    await api.track(customer_id, "Order Completed", {"order_id": f"o-{customer_id}", "revenue": 30})
    handle = api.client.get_workflow_handle(AccountRegistration.spec.workflow_id(customer_id))
    await env.fast_forward(handle, timedelta(days=2, hours=1))
    assert [d.payload["title"] for d in push_service.to(customer_id)] == ["Keep your orders in one place"]
    assert inbox.to(customer_id) == []


async def test_a_shopper_with_an_account_never_enters(api: Api, sessions: Any, customer_id: str) -> None:
    await api.track(customer_id, "Signed Up", {"method": "email"})
    await api.track(customer_id, "Order Completed", {"order_id": f"o-{customer_id}", "revenue": 30})
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(JourneyRun).where(
            JourneyRun.customer_id == customer_id, JourneyRun.journey == "account_registration")) == 0
