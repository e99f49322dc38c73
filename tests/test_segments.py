"""Segments declared in code: membership over facts, asked in a story on fresh facts,
and their sizes for operators."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from sojourn.ground.facts import Facts
from sojourn.ground.segments import Segment
from sojourn.ground.settings import Settings
from tests.conftest import Api, keep_history, open_api
from tests.support.journeys import SegmentProbe
from worker import build_worker
from workflows.registry import JOURNEYS
from workflows.segments import FIRST_TIME_BUYER, FIRST_TIME_VISITOR, NEVER_PURCHASED, NOT_SUBSCRIBED

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_membership_over_facts() -> None:
    new = Facts(first_seen_at=T0, last_seen_at=T0 + timedelta(minutes=5))
    assert NEVER_PURCHASED.contains(new) and FIRST_TIME_VISITOR.contains(new) and NOT_SUBSCRIBED.contains(new)
    assert not FIRST_TIME_BUYER.contains(new)
    back = Facts(first_seen_at=T0, last_seen_at=T0 + timedelta(days=2), orders_count=1, newsletter_subscribed=True)
    assert FIRST_TIME_BUYER.contains(back) and not NEVER_PURCHASED.contains(back)
    assert not FIRST_TIME_VISITOR.contains(back) and not NOT_SUBSCRIBED.contains(back)
    fussy = Segment("fussy", lambda f: f.revenue / f.orders_count > 10)
    assert fussy.contains(Facts()) is False, "a predicate that raises means: not in it"


async def test_operators_see_each_segment_s_size(api: Api, customer_id: str) -> None:
    async def sizes() -> dict[str, int]:
        response = await api.operator("GET", "/v1/segments")
        assert response.status_code == 200, response.text
        return {s["name"]: s["size"] for s in response.json()["segments"]}

    before = await sizes()
    await api.track(f"{customer_id}-a", "Product Viewed", {"product_id": "lip-42"})
    await api.track(f"{customer_id}-b", "Order Completed", {"order_id": "o-1", "revenue": 20})
    after = await sizes()
    assert after["never_purchased"] - before["never_purchased"] == 1
    assert after["first_time_buyer"] - before["first_time_buyer"] == 1
    assert (await api.operator("GET", "/v1/segments", key=None)).status_code == 401


async def test_a_story_asks_about_a_segment_on_fresh_facts(env: WorkflowEnvironment, settings: Settings,
                                                           sessions: Any, customer_id: str) -> None:
    async with build_worker(env.client, settings, sessions, extra_workflows=[SegmentProbe]), \
            open_api(settings, env.client, journeys=(*JOURNEYS, SegmentProbe)) as api:
        await api.track(customer_id, "Segment Probe")
        handle = api.client.get_workflow_handle(SegmentProbe.spec.workflow_id(customer_id))
        for _ in range(200):  # she is asked about before she orders
            if any("segment never_purchased" in line for line in (await handle.query("state"))["timeline"]):
                break
            await asyncio.sleep(0.05)
        await api.track(customer_id, "Order Completed", {"order_id": "o-1", "revenue": 20})
        await api.track(customer_id, "Check Again")
        await handle.result()
        await keep_history(handle, "probe_segment")
        timeline = (await handle.query("state"))["timeline"]
    asked = [line.split(" ", 2)[2] for line in timeline if "segment never_purchased" in line]
    assert asked == ["segment never_purchased: in", "segment never_purchased: not in"], timeline
