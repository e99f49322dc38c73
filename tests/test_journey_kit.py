"""The journey kit, one feature per test, on the real dev server with time skipping."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from sojourn.ground import calendar
from sojourn.ground.events import SIGNAL, JourneyEvent
from sojourn.ground.models import ExperimentAssignment
from sojourn.ground.settings import Settings
from sojourn.ground.spec import JOURNEY_WAKE_UP, KIT_CHANGES
from sojourn.ground.temporal import dev_server_flags
from tests.conftest import Api, keep_history, open_api, temporal_binary
from tests.support.journeys import (
    TEST_JOURNEYS,
    ChattyProbe,
    DateProbe,
    FallbackProbe,
    LocalMorning,
    SplitProbe,
    WaitForOrder,
)
from tests.support.smtp import Inbox
from worker import build_worker
from workflows.kit.experiments import assign
from workflows.kit.journey import JOURNEY_STEP, JOURNEY_VARIANT, Journey, JourneyStart, start_attributes
from workflows.registry import JOURNEYS


@pytest.fixture
async def probe_worker(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[None]:
    async with build_worker(env.client, settings, sessions, extra_workflows=TEST_JOURNEYS):
        yield


async def enter(env: WorkflowEnvironment, settings: Settings, journey: type[Journey], customer_id: str,
                event: str, props: dict[str, Any] | None = None, **start: Any) -> WorkflowHandle[Any, Any]:
    first = JourneyEvent(message_id=str(uuid.uuid4()), type="track", name=event, customer_id=customer_id,
                         properties=props or {})
    return await env.client.start_workflow(
        journey.run,  # type: ignore[attr-defined]
        JourneyStart(customer_id=customer_id, **start),
        id=journey.spec.workflow_id(customer_id), task_queue=settings.task_queue,
        start_signal=SIGNAL, start_signal_args=[first], search_attributes=start_attributes(journey.spec, customer_id),
    )


async def emit(handle: WorkflowHandle[Any, Any], customer_id: str, name: str, props: dict[str, Any] | None = None,
               message_id: str | None = None) -> None:
    await handle.signal(SIGNAL, JourneyEvent(message_id=message_id or str(uuid.uuid4()), type="track", name=name,
                                             customer_id=customer_id, properties=props or {}))


async def timeline(handle: WorkflowHandle[Any, Any]) -> str:
    return "\n".join((await handle.query("state"))["timeline"])


async def test_wait_for_an_event_with_a_predicate(env: WorkflowEnvironment, settings: Settings, probe_worker: None,
                                                  customer_id: str) -> None:
    handle = await enter(env, settings, WaitForOrder, customer_id, "Checkout Started", {"cart_id": "c-1"})
    await env.fast_forward(handle, timedelta(minutes=30))
    await emit(handle, customer_id, "Order Completed", {"cart_id": "c-other", "order_id": "o-x"})
    await env.fast_forward(handle, timedelta(minutes=10))
    assert (await handle.query("state"))["step"] == "waiting for Order Completed", "another cart's order is not hers"
    await emit(handle, customer_id, "Order Completed", {"cart_id": "c-1", "order_id": "o-1"})
    result = await handle.result()
    assert result.outcome == "completed"
    assert "ordered: o-1" in await timeline(handle)
    await keep_history(handle, "probe_wait_for")


async def test_steps_are_searchable_only_where_the_shop_asks(env: WorkflowEnvironment, settings: Settings,
                                                            probe_worker: None, customer_id: str) -> None:
    """Asked (searchable_steps), the run upserts its step and wake-up at the wait and its
    end: a list filter finds who waits where. Not asked, it upserts neither; the step
    and wake-up are in its state, and cost no action."""
    upserts = {}
    for searchable in (True, False):
        customer = f"{customer_id}-{searchable}"
        handle = await enter(env, settings, WaitForOrder, customer, "Checkout Started", {"cart_id": "c-1"},
                             changes=list(KIT_CHANGES), searchable_steps=searchable)
        while (await handle.query("state"))["step"] != "waiting for Order Completed":
            await asyncio.sleep(0.05)
        described = await handle.describe()
        state = await handle.query("state")
        if searchable:
            assert described.typed_search_attributes.get(JOURNEY_STEP) == "waiting for Order Completed"
            assert described.typed_search_attributes.get(JOURNEY_WAKE_UP).isoformat() == state["next_wake_up"]
        else:
            assert described.typed_search_attributes.get(JOURNEY_STEP) is None and state["next_wake_up"]
        await emit(handle, customer, "Order Completed", {"cart_id": "c-1", "order_id": "o-1"})
        assert (await handle.result()).outcome == "completed"
        upserts[searchable] = [e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
                               async for e in handle.fetch_history_events()
                               if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
    assert [sorted(fields) for fields in upserts[True]] == [["JourneyStep", "JourneyWakeUp"]] * 2, "the wait, the end"
    assert upserts[False] == []
    assert (await env.client.get_workflow_handle(WaitForOrder.spec.workflow_id(f"{customer_id}-True")).describe()
            ).typed_search_attributes.get(JOURNEY_STEP) == "completed"


async def test_wait_for_times_out_with_none(env: WorkflowEnvironment, settings: Settings, probe_worker: None,
                                            customer_id: str) -> None:
    handle = await enter(env, settings, WaitForOrder, customer_id, "Checkout Started", {"cart_id": "c-1"})
    await env.fast_forward(handle, None)
    assert "ordered: none" in await timeline(handle)


@pytest.mark.parametrize("profile_tz, default_tz, expected_tz", [
    ("America/New_York", "UTC", "America/New_York"),
    (None, "Asia/Tokyo", "Asia/Tokyo"),
    ("Not/AZone", "Europe/Paris", "Europe/Paris"),
])
async def test_delay_until_local_time_on_weekdays(env: WorkflowEnvironment, settings: Settings, api: Api,
                                                  probe_worker: None, customer_id: str, profile_tz: str | None,
                                                  default_tz: str, expected_tz: str) -> None:
    if profile_tz:
        await api.post("/v1/identify", {"userId": customer_id, "traits": {"timezone": profile_tz}})
    handle = await enter(env, settings, LocalMorning, customer_id, "Morning Probe", default_timezone=default_tz)
    await env.fast_forward(handle, timedelta(seconds=1))
    state = await handle.query("state")
    entered = datetime.fromisoformat(state["entered_at"])
    expected = calendar.next_local_time(entered, calendar.zone(expected_tz, "UTC"), time(9, 30), calendar.WEEKDAYS)
    wake = datetime.fromisoformat(state["next_wake_up"])
    assert abs(wake - expected) < timedelta(seconds=5)
    local = wake.astimezone(calendar.zone(expected_tz, "UTC"))
    assert (local.hour, local.minute) == (9, 30) and local.weekday() < 5
    await env.fast_forward(handle, None)
    assert "woke: yes" in await timeline(handle)
    await keep_history(handle, f"probe_local_time_{expected_tz.replace('/', '_')}")


async def test_delay_until_a_date_in_a_property(env: WorkflowEnvironment, settings: Settings, probe_worker: None,
                                                customer_id: str) -> None:
    renews = (datetime.now(UTC) + timedelta(days=10)).date()
    handle = await enter(env, settings, DateProbe, customer_id, "Date Probe", {"renews_on": renews.isoformat()},
                         default_timezone="Europe/Paris")
    await env.fast_forward(handle, timedelta(seconds=1))
    wake = datetime.fromisoformat((await handle.query("state"))["next_wake_up"])
    local = wake.astimezone(calendar.zone("Europe/Paris", "UTC"))
    assert local.date() == renews - timedelta(days=2) and (local.hour, local.minute) == (0, 0)
    await env.fast_forward(handle, None)
    assert "waited: yes" in await timeline(handle)


async def test_delay_until_a_missing_date_goes_on_at_once(env: WorkflowEnvironment, settings: Settings,
                                                          probe_worker: None, customer_id: str) -> None:
    handle = await enter(env, settings, DateProbe, customer_id, "Date Probe", {"renews_on": "someday"})
    await handle.result()
    assert "waited: no" in await timeline(handle)


async def test_splits_and_a_recorded_experiment(env: WorkflowEnvironment, settings: Settings, api: Api,
                                                probe_worker: None, sessions: Any, inbox: Inbox,
                                                customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id,
                                    "traits": {"email": f"{customer_id}@mail.test", "skin_type": "dry"}})
    handle = await enter(env, settings, SplitProbe, customer_id, "Split Probe", {"value": 80})
    result = await handle.result()
    await keep_history(handle, "probe_split")
    variant = assign(customer_id, "reminder_copy", {"playful": 1, "plain": 1}, 0.2)
    story = await timeline(handle)
    assert "skin: dry" in story and "basket: big" in story and f"experiment reminder_copy: {variant}" in story
    async with sessions() as session:
        row = await session.scalar(select(ExperimentAssignment).where(ExperimentAssignment.customer_id == customer_id))
    assert (row.experiment, row.variant, row.journey) == ("reminder_copy", variant, "probe_split")
    described = await handle.describe()
    assert described.typed_search_attributes.get(JOURNEY_VARIANT) == f"reminder_copy={variant}"
    # Its step is in its state, not a search attribute unless the shop asks (searchable_steps).
    assert described.typed_search_attributes.get(JOURNEY_STEP) is None
    assert (await handle.query("state"))["step"] == "completed"
    if variant == "control":
        assert result.sends == {} and inbox.to(customer_id) == []
    else:
        assert result.sends == {f"email_{variant}": "sent"} and len(inbox.to(customer_id)) == 1


async def test_channel_fallback_and_every_outcome(env: WorkflowEnvironment, settings: Settings, api: Api,
                                                  probe_worker: None, inbox: Inbox, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    handle = await enter(env, settings, FallbackProbe, customer_id, "Fallback Probe")
    result = await handle.result()
    await keep_history(handle, "probe_fallback")
    assert result.sends == {"nudge.push": "skipped", "nudge.email": "sent", "nudge": "sent",
                            "broken": "failed", "after_broken": "sent"}
    story = await timeline(handle)
    assert "nudge.push: push skipped (no push subscriptions)" in story
    assert "broken: email failed (template 'does_not_exist' for email: TemplateNotFound" in story
    assert len(inbox.to(customer_id)) == 2


async def test_quiet_hours_hold_marketing_until_the_window_opens(env: WorkflowEnvironment, settings: Settings,
                                                                 api: Api, probe_worker: None, inbox: Inbox,
                                                                 customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    now = datetime.now(UTC)
    window = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=2)):%H:%M}"
    handle = await enter(env, settings, FallbackProbe, customer_id, "Fallback Probe", quiet_hours=window)
    await env.fast_forward(handle, timedelta(minutes=30))
    state = await handle.query("state")
    assert state["step"] == "nudge.push: quiet hours" and state["sends"] == {}
    opens = datetime.fromisoformat(state["next_wake_up"])
    assert timedelta(hours=1) < opens - now < timedelta(hours=2, minutes=1)
    assert inbox.to(customer_id) == []
    await env.fast_forward(handle, timedelta(hours=2))
    assert (await handle.result()).sends["nudge"] == "sent"


async def test_timers_and_activities_carry_summaries(env: WorkflowEnvironment, settings: Settings, api: Api,
                                                     probe_worker: None, customer_id: str) -> None:
    handle = await enter(env, settings, WaitForOrder, customer_id, "Checkout Started", {"cart_id": "c"})
    await env.fast_forward(handle, None)
    converter = DataConverter.default.payload_converter
    summaries = {}
    async for event in handle.fetch_history_events():
        if event.user_metadata.HasField("summary"):
            summaries[EventType.Name(event.event_type)] = converter.from_payloads([event.user_metadata.summary])[0]
    assert summaries["EVENT_TYPE_TIMER_STARTED"] == "waiting for Order Completed"
    assert summaries["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"] == "record entry"


@pytest.fixture(scope="module")
async def small_history_env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[
            "--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true",
            "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40",
            *dev_server_flags(),
        ],
    )
    async with environment:
        yield environment


async def test_a_chatty_journey_continues_as_new_and_loses_nothing(small_history_env: WorkflowEnvironment,
                                                                   settings: Settings, api: Api, sessions: Any,
                                                                   inbox: Inbox, customer_id: str) -> None:
    env = small_history_env
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    async with build_worker(env.client, settings, sessions, extra_workflows=TEST_JOURNEYS):
        handle = await enter(env, settings, ChattyProbe, customer_id, "Chatty Started")
        first_run = (await handle.describe()).run_id
        for i in range(60):
            await emit(handle, customer_id, "Chatty Ping", {"n": i}, message_id=f"ping-{customer_id}-{i}")
        # Late duplicates of early pings, delivered after the state moved to a new run.
        for i in range(5):
            await emit(handle, customer_id, "Chatty Ping", {"n": i}, message_id=f"ping-{customer_id}-{i}")
        await env.fast_forward(handle, timedelta(days=1))
        assert (await handle.query("state"))["runs"] > 1
        latest = env.client.get_workflow_handle_for(ChattyProbe.run, handle.id)
        await env.fast_forward(latest, None)
        result = await latest.result()
        await keep_history(env.client.get_workflow_handle(handle.id, run_id=first_run), "probe_chatty_first_run")
        await keep_history(latest, "probe_chatty_last_run")
        story = "\n".join((await latest.query("state"))["timeline"])
    assert result.runs > 1 and (await latest.describe()).run_id != first_run
    assert result.sends == {"summary": "sent"}
    assert "pings: 60" in story and "continued as new" in story
    assert len(inbox.to(customer_id)) == 1, "one email across all runs"


async def test_the_sandbox_still_stops_a_story_that_reads_the_wall_clock(
    env: WorkflowEnvironment, settings: Settings, sessions: Any
) -> None:
    """The kit is passed through the sandbox for speed (worker.KIT_MODULES); a
    journey's own file is not, so its non-determinism fails the workflow task."""
    from tests.support.journeys import WallClockProbe

    customer_id = f"clock-{uuid.uuid4().hex[:8]}"
    async with build_worker(env.client, settings, sessions, extra_workflows=[WallClockProbe]):
        # Started as the router starts journeys: the entry in the start input.
        handle = await env.client.start_workflow(
            WallClockProbe.run,  # type: ignore[attr-defined]
            JourneyStart(customer_id=customer_id, entry=JourneyEvent(
                message_id=str(uuid.uuid4()), type="track", name="Clock Probe", customer_id=customer_id)),
            id=WallClockProbe.spec.workflow_id(customer_id), task_queue=settings.task_queue,
        )
        failure = ""
        for _ in range(100):
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = event.workflow_task_failed_event_attributes.failure.message
            if failure:
                break
            await asyncio.sleep(0.1)
        await handle.terminate("test over")
    assert "datetime.datetime.now" in failure, failure


async def test_a_story_that_ends_early_is_left_out_of_the_kpi(env: WorkflowEnvironment, settings: Settings,
                                                              sessions: Any) -> None:
    """A repeat customer's order must not count as this journey's conversion: the run
    that bowed out stops waiting for its goal and is no entry in the denominator."""
    from tests.support.journeys import BowOutProbe

    vip, newcomer = f"vip-{uuid.uuid4().hex[:8]}", f"new-{uuid.uuid4().hex[:8]}"
    async with build_worker(env.client, settings, sessions, extra_workflows=[BowOutProbe]), \
            open_api(settings, env.client, journeys=(*JOURNEYS, BowOutProbe)) as api:
        before = (await api.operator("GET", "/v1/journeys/probe_bow_out/stats")).json()
        await api.post("/v1/identify", {"userId": vip, "traits": {"vip": True}})
        for customer in (vip, newcomer):
            await api.track(customer, "Bow Out Probe")
        ended = await api.client.get_workflow_handle_for(
            BowOutProbe.run, BowOutProbe.spec.workflow_id(vip)).result()  # type: ignore[attr-defined]
        assert (ended.outcome, ended.reason) == ("ended_early", "VIPs get another offer")
        await keep_history(api.client.get_workflow_handle(BowOutProbe.spec.workflow_id(vip)), "probe_bow_out_ended_early")
        await api.track(vip, "Order Completed")  # she orders anyway: not this journey's conversion
        handle = api.client.get_workflow_handle_for(
            BowOutProbe.run, BowOutProbe.spec.workflow_id(newcomer))  # type: ignore[attr-defined]
        await env.fast_forward(handle, timedelta(hours=2))
        await api.track(newcomer, "Order Completed")
        assert (await handle.result()).converted
        stats = (await api.operator("GET", "/v1/journeys/probe_bow_out/stats")).json()
    assert stats["entries"] - before["entries"] == 2 and stats["ended_early"] - before["ended_early"] == 1
    assert stats["conversions"] - before["conversions"] == 1
    assert stats["rate"] == stats["conversions"] / (stats["entries"] - stats["ended_early"])
