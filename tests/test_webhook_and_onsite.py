"""The webhook channel (signed, idempotent, allow-listed) and the on-site channel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.rendering import Templates
from activities.webhook import WebhookActivities
from sojourn.ground.contracts import Send
from sojourn.ground.events import SIGNAL, JourneyEvent
from sojourn.ground.models import Message, OnsiteMessage
from sojourn.ground.settings import Settings
from tests.conftest import Api, browser_of, keep_history
from tests.support.journeys import TEST_JOURNEYS, ChannelsProbe, OnsiteProbe
from tests.support.webhook_receiver import WebhookReceiver
from worker import build_worker
from workflows.kit.journey import JourneyStart, start_attributes

SECRET = "whsec-test"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver(secret=SECRET)
    await hook.start()
    yield hook
    await hook.stop()


@pytest.fixture
def hooked(settings: Settings, receiver: WebhookReceiver) -> Settings:
    return settings.model_copy(update={"webhooks": {"ads": receiver.url}, "webhook_secret": SECRET,
                                       "webhook_allowed_hosts": ["127.0.0.1:*"]})


async def test_a_journey_syncs_an_ad_audience_and_leaves_onsite_messages(
    env: WorkflowEnvironment, api: Api, hooked: Settings, sessions: Any, receiver: WebhookReceiver, customer_id: str
) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"first_name": "Lisa"}})
    receiver.answers = [500]  # the first delivery fails; the retry must carry the same key
    async with build_worker(env.client, hooked, sessions, extra_workflows=TEST_JOURNEYS):
        event = JourneyEvent(message_id=str(uuid.uuid4()), type="track", name="Channels Probe", customer_id=customer_id)
        handle = await env.client.start_workflow(
            ChannelsProbe.run, JourneyStart(customer_id=customer_id), id=f"probe_channels:{customer_id}",
            task_queue=hooked.task_queue, start_signal=SIGNAL, start_signal_args=[event],
            search_attributes=start_attributes(ChannelsProbe.spec, customer_id))
        result = await handle.result()
    assert result.sends == {"retargeting_ad": "sent", "greeting": "sent", "banner": "sent"}
    assert len(receiver.received) == 2 and all(h.signature_ok for h in receiver.received)
    assert receiver.received[0].idempotency_key == receiver.received[1].idempotency_key != ""
    body = receiver.received[1].body
    assert (body["customer_id"], body["journey"], body["data"]["audience"]) == (customer_id, "probe_channels",
                                                                                "cart_abandoners")

    # Its run is over: what it left on the site came down with it.
    assert await messages(api, customer_id) == []
    async with sessions() as session:
        rows = (await session.scalars(select(OnsiteMessage).where(OnsiteMessage.customer_id == customer_id))).all()
    assert len(rows) == 2 and all(r.withdrawn_at is not None for r in rows)


async def messages(api: Api, customer_id: str, placement: str | None = None, expect: int | None = None) -> list[Any]:
    for _ in range(200):
        listed = (await api.http.get(f"/v1/customers/{customer_id}/messages",
                                     params={"placement": placement} if placement else {},
                                     headers=browser_of(customer_id))).json()
        if expect is None or len(listed) == expect:
            return listed
        await asyncio.sleep(0.05)
    return listed


async def test_onsite_messages_live_while_their_run_does(env: WorkflowEnvironment, api: Api, hooked: Settings,
                                                        sessions: Any, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"first_name": "Lisa"}})
    async with build_worker(env.client, hooked, sessions, extra_workflows=TEST_JOURNEYS):
        event = JourneyEvent(message_id=str(uuid.uuid4()), type="track", name="Onsite Probe", customer_id=customer_id)
        handle = await env.client.start_workflow(
            OnsiteProbe.run, JourneyStart(customer_id=customer_id), id=f"probe_onsite:{customer_id}",
            task_queue=hooked.task_queue, start_signal=SIGNAL, start_signal_args=[event],
            search_attributes=start_attributes(OnsiteProbe.spec, customer_id))
        await messages(api, customer_id, expect=2)
        [greeting] = await messages(api, customer_id, "greeting_bar")
        assert greeting["content"]["text"] == "Welcome back, Lisa!"
        redirect = await api.follow(greeting["content"]["url"])
        assert redirect.headers["location"] == "https://beauty.test/new"
        everything = await messages(api, customer_id)
        assert {m["placement"] for m in everything} == {"greeting_bar", "smart_banner"}
        banner = next(m for m in everything if m["placement"] == "smart_banner")
        assert banner["content"]["title"] == "Your lipstick is waiting"

        ack = f"/v1/customers/{customer_id}/messages/{greeting['id']}/ack"
        assert (await api.post(ack, None, key=None)).status_code == 401
        assert (await api.post(f"/v1/customers/someone-else/messages/{greeting['id']}/ack", None)).status_code == 404
        assert (await api.post(ack, None)).status_code == 204
        assert [m["placement"] for m in await messages(api, customer_id)] == ["smart_banner"]

        # The run ends: the banner, still up, comes down with it.
        await handle.signal(SIGNAL, JourneyEvent(message_id=str(uuid.uuid4()), type="track", name="Onsite Done",
                                                 customer_id=customer_id))
        await handle.result()
    assert await messages(api, customer_id) == []


def hook_send(customer_id: str, hook: str = "ads") -> Send:
    return Send(key=f"k-{uuid.uuid4()}", customer_id=customer_id, journey="j", workflow_id="w", step="s",
                template=hook, data={"x": 1})


@pytest.mark.parametrize("change, reason", [
    ({"webhook_allowed_hosts": ["hooks.example.com"]}, "is not an allowed webhook host"),
    ({"webhook_secret": None}, "never sent unsigned"),
    ({"webhooks": {}}, "no webhook named 'ads'"),
])
async def test_a_webhook_is_never_sent_outside_the_rules(hooked: Settings, sessions: Any, receiver: WebhookReceiver,
                                                         customer_id: str, change: dict[str, Any], reason: str) -> None:
    hooks = WebhookActivities(hooked.model_copy(update=change), sessions, Templates(hooked.templates_dir))
    result = await ActivityEnvironment().run(hooks.send_webhook, hook_send(customer_id))
    assert result.status == "skipped" and reason in result.detail
    assert receiver.received == []


async def test_a_4xx_answer_fails_without_retry(hooked: Settings, sessions: Any, receiver: WebhookReceiver,
                                                customer_id: str) -> None:
    receiver.answers = [422]
    hooks = WebhookActivities(hooked, sessions, Templates(hooked.templates_dir))
    result = await ActivityEnvironment().run(hooks.send_webhook, hook_send(customer_id))
    assert (result.status, result.detail) == ("failed", "webhook refused: 422 nope")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_webhook_that_redirects_is_not_followed(hooked: Settings, sessions: Any, receiver: WebhookReceiver,
                                                        customer_id: str, status: int) -> None:
    receiver.answers, receiver.redirect_to = [status], receiver.url  # a 307/308 would POST again
    hooks = WebhookActivities(hooked, sessions, Templates(hooked.templates_dir))
    result = await ActivityEnvironment().run(hooks.send_webhook, hook_send(customer_id))
    assert result.status == "failed" and str(status) in result.detail
    assert len(receiver.received) == 1


async def test_a_send_out_of_attempts_ends_failed_in_the_ledger(
    env: WorkflowEnvironment, hooked: Settings, sessions: Any, receiver: WebhookReceiver, customer_id: str
) -> None:
    """Every attempt fails (503): the journey goes on, and the row doesn't stay queued."""
    receiver.answers = [503] * 8
    hooked = hooked.model_copy(update={"time_scale": 100.0})  # retries wait on the demo clock too
    async with build_worker(env.client, hooked, sessions, extra_workflows=TEST_JOURNEYS):
        event = JourneyEvent(message_id=str(uuid.uuid4()), type="track", name="Channels Probe", customer_id=customer_id)
        handle = await env.client.start_workflow(
            ChannelsProbe.run, JourneyStart(customer_id=customer_id, time_scale=100.0, entry=event),
            id=f"probe_channels:{customer_id}",
            task_queue=hooked.task_queue, search_attributes=start_attributes(ChannelsProbe.spec, customer_id))
        result = await handle.result()
        await keep_history(handle, "probe_channels_send_out_of_attempts")
    assert result.sends["retargeting_ad"] == "failed" and len(receiver.received) == 8
    async with sessions() as session:
        row = await session.scalar(select(Message).where(Message.customer_id == customer_id,
                                                         Message.step == "retargeting_ad"))
    assert row.status == "failed" and "out of attempts" in row.detail
