"""Changing a live journey (`self.changed`, workflows/kit/journey.py): a run started by the
code that made a change takes it for free; a run that entered before falls back to
Temporal's patch marker. And every change the code makes is declared, so new runs
never pay for a marker."""

from __future__ import annotations

import ast
import asyncio
import importlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.settings import Settings
from sojourn.ground.spec import KIT_CHANGES, start_input
from tests.support.journeys import WaitForOrder
from tests.test_journey_kit import emit, enter, probe_worker  # noqa: F401 - a fixture
from workflows.registry import JOURNEYS

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
KIT_CLASSES = {"Journey", "Sends", "Waits", "Decisions", "Coupons", "Intelligence", "Audiences"}


def changes_in(path: Path) -> list[tuple[str, str]]:
    """(class, id) for every `self.changed("id")` in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "changed"
                        and call.args and isinstance(call.args[0], ast.Constant)):
                    found.append((node.name, call.args[0].value))
    return found


def test_every_change_the_code_makes_is_declared() -> None:
    kit_used: set[str] = set()
    for path in sorted(WORKFLOWS.rglob("*.py")):
        name = ".".join(path.relative_to(WORKFLOWS.parent).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(name)
        for cls, change in changes_in(path):
            if cls in KIT_CLASSES:
                assert change in KIT_CHANGES, f"{path.name}: the kit's change {change!r} is not in KIT_CHANGES"
                kit_used.add(change)
            else:
                declared = getattr(module, cls).spec.changes
                assert change in declared, f"{path.name}: {cls} uses {change!r}; add it to @journey(changes=...)"
        # Everything goes through `changed`: a bare `patched` costs every new run an action.
        calls = path.read_text().count("workflow.patched(")
        assert calls == (1 if path.name == "journey.py" else 0), f"{path.name} calls workflow.patched directly"
    assert kit_used == set(KIT_CHANGES), "KIT_CHANGES names a change the kit no longer makes"
    for journey in JOURNEYS:
        source = Path(importlib.import_module(journey.__module__).__file__ or "")
        used = {change for cls, change in changes_in(source) if cls == journey.__name__}
        assert used == set(journey.spec.changes), f"{journey.spec.name} declares a change its story doesn't make"


def test_the_router_hands_a_new_run_every_change() -> None:
    from workflows.journeys.cart_abandonment import CartAbandonment

    settings = Settings()
    given = start_input(CartAbandonment.spec, "lisa", None, settings)["changes"]
    assert given == [*KIT_CHANGES, "cart-2026-11-retargeting-ad", "cart-2026-12-the-guides-order"]
    assert CartAbandonment.spec.describe()["changes"] == ["cart-2026-11-retargeting-ad", "cart-2026-12-the-guides-order"]


async def _markers_and_upserts(handle: Any) -> tuple[int, list[str]]:
    markers, upserted = 0, []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            markers += 1
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            upserted += list(event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
    return markers, upserted


@pytest.mark.usefixtures("probe_worker")
async def test_a_run_started_with_the_changes_takes_them_without_a_patch_marker(
    env: WorkflowEnvironment, settings: Settings
) -> None:
    """The same story twice: started as the router starts it now (the changes in its
    input), and as a run that entered before them (none). Both take the kit's change,
    that no step is upserted unless the shop asks, but only the second records it in
    history, at the cost of a marker and a billable upsert of TemporalChangeVersion."""
    runs = {}
    for given in (list(KIT_CHANGES), []):
        customer = f"changes-{len(given)}-{uuid.uuid4().hex[:6]}"
        handle = await enter(env, settings, WaitForOrder, customer, "Checkout Started", {"cart_id": "c-1"},
                             changes=given)
        while (await handle.query("state"))["step"] != "waiting for Order Completed":
            await asyncio.sleep(0.05)  # an order before the wait began is not the one it waits for
        await emit(handle, customer, "Order Completed", {"cart_id": "c-1", "order_id": "o-1"})
        assert (await handle.result()).outcome == "completed"
        runs[bool(given)] = await _markers_and_upserts(handle)

    new_markers, new_upserts = runs[True]
    old_markers, old_upserts = runs[False]
    assert new_markers == 0 and "TemporalChangeVersion" not in new_upserts
    assert old_markers >= 1 and "TemporalChangeVersion" in old_upserts
    assert "JourneyStep" not in new_upserts and "JourneyStep" not in old_upserts, \
        "neither upserts its step: steps are searchable only where the shop asks (searchable_steps)"
