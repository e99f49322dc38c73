"""Data can't break a journey: a story reads properties through typed accessors that
never raise, and a story that still raises fails its run visibly (failed in Temporal,
counted in stats) and lets the customer enter again."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.events import SIGNAL, JourneyEvent
from sojourn.ground.settings import Settings
from tests.conftest import Api, open_api
from tests.support.journeys import BrittleProbe
from tests.support.push_receiver import PushReceiver
from tests.test_cart_abandonment import LIPSTICK, journey, lisa_arrives, state
from worker import build_worker
from workflows.registry import JOURNEYS

ODD_QUANTITIES = ["abc", [1], math.inf, "1e400", None, -3, 2.5, {"n": 1}, True, 10**400]


@pytest.mark.parametrize("value", [*ODD_QUANTITIES, 10**5000], ids=lambda v: type(v).__name__)
def test_typed_accessors_never_raise(value: Any) -> None:
    event = JourneyEvent(message_id="m", type="track", name="Product Added", customer_id="c",
                         properties={"quantity": value})
    assert isinstance(event.integer("quantity", 1, minimum=1), int)
    assert math.isfinite(event.number("quantity"))
    assert isinstance(event.text("quantity"), str)


def test_typed_accessors_read_what_senders_mean() -> None:
    event = JourneyEvent(message_id="m", type="track", name="Product Added", customer_id="c",
                         properties={"quantity": "2", "price": "24.5", "whole": 3.0, "sku": 42, "half": 2.5})
    assert (event.integer("quantity"), event.number("price"), event.integer("whole")) == (2, 24.5, 3)
    assert (event.text("sku"), event.integer("half", 7), event.integer("missing", 7)) == ("42", 7, 7)


async def test_a_cart_with_odd_quantities_still_gets_its_push(env: WorkflowEnvironment, api: Api, worker: Any,
                                                              push_service: PushReceiver, customer_id: str) -> None:
    """The API refuses these now, but events from before, or sent straight to the
    workflow, reach the story too: once, "quantity": "abc" froze the journey."""
    await lisa_arrives(api, customer_id, push_service)
    await api.track(customer_id, "Product Added", LIPSTICK)
    handle = journey(api, customer_id)
    for i, quantity in enumerate(ODD_QUANTITIES):
        await handle.signal(SIGNAL, JourneyEvent(
            message_id=str(uuid.uuid4()), type="track", name="Product Added", customer_id=customer_id,
            properties={"product_id": ["odd", i] if i % 2 else f"odd-{i}", "name": f"Odd {i}", "quantity": quantity}))
    await env.fast_forward(handle, timedelta(minutes=61))
    [push] = push_service.to(customer_id)
    assert "Velvet Lipstick" in push.payload["body"]
    assert (await state(handle))["sends"] == {"push_1h": "sent"}
    await handle.terminate("test over")


async def test_a_story_that_raises_fails_its_run_visibly_and_she_can_enter_again(
    env: WorkflowEnvironment, settings: Settings, sessions: Any, customer_id: str
) -> None:
    async with build_worker(env.client, settings, sessions, extra_workflows=[BrittleProbe]), \
            open_api(settings, env.client, journeys=(*JOURNEYS, BrittleProbe)) as api:
        handle = api.client.get_workflow_handle(BrittleProbe.spec.workflow_id(customer_id))
        before = (await api.operator("GET", "/v1/journeys/probe_brittle/stats")).json()["failed"]

        await api.track(customer_id, "Brittle Probe", {"n": "abc"})
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "ValueError" and cause.non_retryable
        assert "invalid literal for int()" in cause.message
        described = await handle.describe()
        assert described.status is not None and described.status.name == "FAILED"

        stats = (await api.operator("GET", "/v1/journeys/probe_brittle/stats")).json()
        for _ in range(50):  # visibility is eventually consistent
            if stats["failed"] == before + 1:
                break
            await asyncio.sleep(0.1)
            stats = (await api.operator("GET", "/v1/journeys/probe_brittle/stats")).json()
        assert stats["failed"] == before + 1, stats

        # Her next entry starts a fresh run, which goes on with good data.
        await api.track(customer_id, "Brittle Probe", {"n": 4})
        fresh = await api.client.get_workflow_handle(BrittleProbe.spec.workflow_id(customer_id)).describe()
        assert fresh.run_id != described.run_id and fresh.status is not None and fresh.status.name == "RUNNING"
        await api.client.get_workflow_handle(fresh.id).terminate("test over")
