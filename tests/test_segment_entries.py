"""Segments as entry conditions and as triggers: `only_for` is decided on the facts as
of the entry event, and `Joins`/`Leaves` fire on the event that changed membership."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Event, JourneyEntry, JourneyRun
from sojourn.ground.settings import Settings
from tests.conftest import Api, keep_history, open_api
from tests.support.journeys import JoinsProbe, OnlyForProbe
from worker import build_worker

PROBES = (OnlyForProbe, JoinsProbe)


@pytest.fixture
async def probes(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions, extra_workflows=PROBES), \
            open_api(settings, env.client, journeys=PROBES) as api:
        yield api


def message(user: str, event: str, **properties: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, "properties": properties,
            "messageId": str(uuid.uuid4())}


async def outcome(api: Api, spec: Any, customer_id: str) -> dict[str, Any] | None:
    """The run's result, or None if the journey never started for her."""
    try:
        handle = api.client.get_workflow_handle(spec.workflow_id(customer_id))
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            return {"outcome": "running", "state": await handle.query("state")}
        return await handle.result()
    except RPCError:
        return None


async def finished(api: Api, spec: Any, customer_id: str) -> dict[str, Any]:
    """The run's result, once it has ended (an exit signal is handled a moment later)."""
    return await asyncio.wait_for(api.client.get_workflow_handle(spec.workflow_id(customer_id)).result(), 15)


async def counts(api: Api, journey: str, customer_id: str) -> tuple[int, int]:
    async with api.sessions() as session:
        runs = await session.scalar(select(func.count()).select_from(JourneyRun).where(
            JourneyRun.journey == journey, JourneyRun.customer_id == customer_id))
        entries = await session.scalar(select(func.count()).select_from(JourneyEntry).where(
            JourneyEntry.journey == journey, JourneyEntry.customer_id == customer_id))
    return runs, entries


async def test_only_for_admits_on_the_facts_as_of_the_entry_event(probes: Api, customer_id: str) -> None:
    shopper, buyer = f"{customer_id}-shopper", f"{customer_id}-buyer"
    # One request each, in the order given: facts as of each event, not as of routing.
    for body in (
        {"batch": [message(shopper, "Product Viewed", product_id="lip-1"),
                   message(shopper, "Order Completed", order_id="o-1", revenue=20)]},
        {"batch": [message(buyer, "Order Completed", order_id="o-2", revenue=20),
                   message(buyer, "Product Viewed", product_id="lip-1")]},
    ):
        assert (await probes.post("/v1/batch", body)).status_code == 200

    # She viewed while she had never bought: she entered, and her order (she left the
    # segment) ended the run.
    ran = await finished(probes, OnlyForProbe.spec, shopper)
    assert ran["outcome"] == "exited" and ran["exit_event"] == "Order Completed", ran
    # He had bought before his view: no run, no entry, nothing for any KPI to count.
    assert await outcome(probes, OnlyForProbe.spec, buyer) is None
    assert await counts(probes, "probe_only_for", buyer) == (0, 0)
    # A later view doesn't let him in either.
    await probes.track(buyer, "Product Viewed", {"product_id": "lip-2"})
    assert await counts(probes, "probe_only_for", buyer) == (0, 0)


async def test_joins_and_leaves_fire_on_the_event_that_changed_membership(probes: Api, customer_id: str) -> None:
    await probes.track(customer_id, "Product Viewed", {"product_id": "lip-1"})
    assert await outcome(probes, JoinsProbe.spec, customer_id) is None, "not a buyer yet"

    await probes.track(customer_id, "Order Completed", {"order_id": "o-1", "revenue": 20})
    first = await outcome(probes, JoinsProbe.spec, customer_id)
    assert first is not None and first["outcome"] == "running", first
    assert "entered on Order Completed" in " ".join(first["state"]["timeline"])

    await probes.track(customer_id, "Product Viewed", {"product_id": "lip-2"})  # changes nothing
    await probes.track(customer_id, "Order Completed", {"order_id": "o-2", "revenue": 30})
    second = await finished(probes, JoinsProbe.spec, customer_id)
    assert second["outcome"] == "exited" and second["exit_event"] == "Order Completed"
    await keep_history(probes.client.get_workflow_handle(JoinsProbe.spec.workflow_id(customer_id)), "probe_joins")

    # The events carry her membership as of each one.
    async with probes.sessions() as session:
        rows = (await session.scalars(select(Event).where(Event.customer_id == customer_id)
                                      .order_by(Event.id))).all()
    assert [(r.name, r.segments) for r in rows] == [
        ("Product Viewed", {"in": ["never_purchased"], "joined": ["never_purchased"], "left": []}),
        ("Order Completed", {"in": ["first_time_buyer"], "joined": ["first_time_buyer"],
                             "left": ["never_purchased"]}),
        ("Product Viewed", {"in": ["first_time_buyer"], "joined": [], "left": []}),
        ("Order Completed", {"in": [], "joined": [], "left": ["first_time_buyer"]}),
    ]


async def test_a_refund_brings_her_back_into_the_segment(probes: Api, customer_id: str) -> None:
    """Membership follows the facts both ways: a full refund of her only order makes her
    a never-purchased shopper again, and that is an event too."""
    await probes.track(customer_id, "Order Completed", {"order_id": "o-1", "revenue": 20})
    await probes.track(customer_id, "Order Refunded", {"order_id": "o-1", "revenue": 20})
    ran = await finished(probes, JoinsProbe.spec, customer_id)
    assert ran["outcome"] == "exited" and ran["exit_event"] == "Order Refunded", ran
    await probes.track(customer_id, "Product Viewed", {"product_id": "lip-1"})
    again = await outcome(probes, OnlyForProbe.spec, customer_id)
    assert again is not None and again["outcome"] == "running", again
