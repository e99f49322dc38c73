"""Her best time: her most active hour of the week in her time zone, smoothed toward
the shop's, outside quiet hours, within the window; the shop's hours when hers are too
few; a holdout sent at the default time, recorded as an experiment so the lift is
measured."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.settings import Settings
from sojourn.intelligence.besttime import HOURS, best_moment, hour_of_week
from tests.conftest import Api, keep_history, open_api
from tests.support.journeys import TEST_JOURNEYS, BestTimeProbe
from tests.support.smtp import Inbox
from worker import build_worker
from workflows.kit.experiments import assign
from workflows.registry import JOURNEYS

PARIS = ZoneInfo("Europe/Paris")
MONDAY_10_UTC = datetime(2026, 11, 23, 10, tzinfo=UTC)  # 11:00 in Paris


def histogram(**hours: int) -> list[int]:
    """Counts by hour of the week, e.g. tue19=12."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    counts = [0] * HOURS
    for slot, n in hours.items():
        counts[days.index(slot[:3]) * 24 + int(slot[3:])] = n
    return counts


def test_her_most_active_hour_in_her_time_zone() -> None:
    at, reason = best_moment(MONDAY_10_UTC, timedelta(days=7), PARIS, histogram(tue19=12, wed08=3), [1.0] * HOURS)
    assert at == datetime(2026, 11, 24, 18, tzinfo=UTC), at  # Tuesday 19:00 in Paris
    assert reason == "her most active hour in the window (Tuesday 19:00; 12 of her 15 events there)"
    # Outside the window: the best hour inside it.
    at, _ = best_moment(MONDAY_10_UTC, timedelta(hours=30), PARIS, histogram(tue19=12, tue08=4), [1.0] * HOURS)
    assert at.astimezone(PARIS).hour == 8


def test_smoothing_and_the_fallbacks() -> None:
    shop = [1.0] * HOURS
    shop[hour_of_week(datetime(2026, 11, 25, 11, tzinfo=UTC), PARIS)] = 500.0  # Wednesday 12:00 Paris
    at, reason = best_moment(MONDAY_10_UTC, timedelta(days=7), PARIS, histogram(tue19=3), shop)
    assert at.astimezone(PARIS).strftime("%a %H") == "Wed 12" and "too little of hers: 3 events" in reason
    # With enough of hers, the shop only smooths: her hour wins.
    at, _ = best_moment(MONDAY_10_UTC, timedelta(days=7), PARIS, histogram(tue19=40), shop)
    assert at.astimezone(PARIS).strftime("%a %H") == "Tue 19"
    assert best_moment(MONDAY_10_UTC, timedelta(days=7), PARIS, [0] * HOURS, [0.0] * HOURS) == \
        (MONDAY_10_UTC, "no activity to go by: now")


def test_quiet_hours_are_never_chosen() -> None:
    at, _ = best_moment(MONDAY_10_UTC, timedelta(days=7), PARIS, histogram(tue23=20, tue20=5), [1.0] * HOURS,
                        quiet_hours="21:00-08:00")
    assert at.astimezone(PARIS).strftime("%a %H") == "Tue 20"
    at, reason = best_moment(datetime(2026, 11, 23, 22, tzinfo=UTC), timedelta(hours=2), PARIS,
                             histogram(tue23=20), [1.0] * HOURS, quiet_hours="21:00-08:00")
    assert reason.startswith("every hour in the window is quiet")


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions, extra_workflows=[BestTimeProbe]), \
            open_api(settings, env.client, journeys=(*JOURNEYS, *TEST_JOURNEYS)) as opened:
        yield opened


def held_out(customer_id: str) -> bool:
    return assign(customer_id, "best_time", {"best_time": 1.0}, 0.5) == "control"


async def test_the_journey_waits_for_her_best_hour(env: WorkflowEnvironment, api: Api, inbox: Inbox) -> None:
    customer_id = next(c for c in (f"ana-{uuid.uuid4().hex[:8]}" for _ in range(50)) if not held_out(c))
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                      "timezone": "Asia/Tokyo"}})
    tokyo = ZoneInfo("Asia/Tokyo")
    now = datetime.now(UTC)
    for week in range(1, 13):  # Saturdays at 21:00 in Tokyo, for three months
        local = (now - timedelta(weeks=week)).astimezone(tokyo)
        saturday = (local + timedelta(days=(5 - local.weekday()) % 7)).replace(hour=21, minute=5)
        await api.page(customer_id, name="Home", properties={"path": "/"}, timestamp=saturday.isoformat())
    await api.track(customer_id, "Best Time Probe")
    handle = api.client.get_workflow_handle(BestTimeProbe.spec.workflow_id(customer_id))
    for _ in range(100):
        state = await handle.query("state")
        if state["next_wake_up"]:
            break
    wake = datetime.fromisoformat(state["next_wake_up"]).astimezone(tokyo)
    assert (wake.weekday(), wake.hour, wake.minute) == (5, 21, 0), state
    assert state["variants"] == {"best_time": "best_time"}
    assert any("best time:" in line and "her most active hour" in line for line in state["timeline"])
    assert inbox.to(customer_id) == []
    await env.fast_forward(handle, datetime.fromisoformat(state["next_wake_up"]) - datetime.now(UTC)
                           + timedelta(minutes=1))
    await handle.result()
    assert len(inbox.to(customer_id)) == 1
    await keep_history(handle, "probe_best_time")


async def test_the_holdout_goes_at_the_default_time(api: Api, inbox: Inbox) -> None:
    customer_id = next(c for c in (f"bea-{uuid.uuid4().hex[:8]}" for _ in range(50)) if held_out(c))
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Best Time Probe")
    handle = api.client.get_workflow_handle(BestTimeProbe.spec.workflow_id(customer_id))
    result = await handle.result()
    assert result["sends"] == {"at_her_best_time": "sent"}
    state = await handle.query("state")
    assert state["variants"] == {"best_time": "control"}
    assert any("holdout: at the default time" in line for line in state["timeline"])
    stats = (await api.operator("GET", "/v1/journeys/probe_best_time/stats")).json()
    [best_time] = [e for e in stats["experiments"] if e["experiment"] == "best_time"]
    assert best_time["reference"] == "control" and "control" in {v["variant"] for v in best_time["variants"]}
