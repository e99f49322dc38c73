"""A segment that changes as time passes (lapsed: no order in 60 days) is swept by a
Temporal Schedule: she joins when her last order turns 60 days old, with no event of
hers, and the journey that enters on joining starts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.schedules import ensure_schedules
from sojourn.ground.settings import Settings
from tests.conftest import Api, open_api
from tests.support.journeys import LapsedProbe
from worker import build_worker, watched
from workflows.segments import LAPSE, LAPSED


async def sweep(client: Client, schedule_id: str) -> dict[str, Any]:
    """Trigger the schedule once and wait for that sweep's result."""
    handle = client.get_schedule_handle(schedule_id)
    before = (await handle.describe()).info.num_actions
    await handle.trigger()
    for _ in range(300):
        info = (await handle.describe()).info
        if info.num_actions > before:
            action = info.recent_actions[-1].action
            assert isinstance(action, ScheduleActionExecutionStartWorkflow)
            return await client.get_workflow_handle(action.workflow_id).result()
        await asyncio.sleep(0.05)
    raise AssertionError("the schedule never ran its sweep")


async def test_the_schedule_finds_who_lapsed_as_time_passed(env: WorkflowEnvironment, settings: Settings,
                                                            sessions: Any, customer_id: str) -> None:
    schedule_id = f"sweep-{uuid.uuid4()}"
    async with build_worker(env.client, settings, sessions, extra_workflows=[LapsedProbe]), \
            open_api(settings, env.client, journeys=(LapsedProbe,)) as api:
        await ensure_schedules(env.client, settings, watched([LapsedProbe]), schedule_id=schedule_id,
                               recommendations_id=None, audiences_id=None)
        try:
            await run_the_story(api, schedule_id, customer_id)
        finally:
            await env.client.get_schedule_handle(schedule_id).delete()


async def run_the_story(api: Api, schedule_id: str, customer_id: str) -> None:
    handle = api.client.get_workflow_handle(LapsedProbe.spec.workflow_id(customer_id))
    # Her only order, backfilled: it turns 60 days old 3 seconds from now.
    ordered = datetime.now(UTC) - LAPSE + timedelta(seconds=3)
    await api.track(customer_id, "Order Completed", {"order_id": "o-1", "revenue": 20},
                    timestamp=ordered.isoformat())
    await sweep(api.client, schedule_id)  # the first sweep marks where sweeping starts
    assert not await running(handle), "not lapsed yet"

    await asyncio.sleep(max((ordered + LAPSE - datetime.now(UTC)).total_seconds(), 0) + 0.2)
    swept = await sweep(api.client, schedule_id)
    assert swept["joined"]["lapsed"] >= 1, swept
    await api.settled()
    assert await running(handle), "she lapsed: the win-back started"
    timeline = " ".join((await handle.query("state"))["timeline"])
    assert "entered on Audience Entered" in timeline, timeline

    # A sweep again finds nothing new for her; her next order is the event that makes
    # her leave the segment, and the journey exits on it.
    again = await sweep(api.client, schedule_id)
    assert again["joined"]["lapsed"] == 0, again
    await api.track(customer_id, "Order Completed", {"order_id": "o-2", "revenue": 20})
    result = await handle.result()
    assert result["outcome"] == "exited" and result["exit_event"] == "Order Completed", result


async def running(handle: Any) -> bool:
    try:
        return (await handle.describe()).status.name == "RUNNING"
    except Exception:  # noqa: BLE001 - not found: never started
        return False


def test_lapsed_is_a_timed_segment() -> None:
    from sojourn.ground.facts import Facts

    now = datetime(2026, 11, 23, tzinfo=UTC)
    assert LAPSED.contains(Facts(orders_count=1, last_order_at=now - timedelta(days=61)), now)
    assert not LAPSED.contains(Facts(orders_count=1, last_order_at=now - timedelta(days=59)), now)
    assert not LAPSED.contains(Facts(), now), "never ordered: not lapsed"
    assert not LAPSED.contains(Facts(orders_count=1, last_order_at=now - timedelta(days=61))), "asked without a time"
