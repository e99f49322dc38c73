"""Replay the histories recorded from this suite's journeys (tests/histories/) against
the current code. A change that would break customers already inside a journey fails
here, in CI, before it reaches them. Re-record with:

    SOJOURN_RECORD_HISTORIES=1 make test

and commit the new files next to the old ones (keep the old ones: customers who
entered under the old code are still out there).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.support import cart_patched_edit, cart_unsafe_edit
from tests.support.journeys import TEST_JOURNEYS
from worker import sandbox_runner
from workflows.registry import JOURNEYS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_every_registered_journey_has_recorded_histories() -> None:
    recorded = {path.stem for path in HISTORIES}
    for journey in JOURNEYS:
        assert any(name.startswith(journey.spec.name) for name in recorded), (
            f"no recorded history for {journey.spec.name}: run SOJOURN_RECORD_HISTORIES=1 make test"
        )


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_on_current_code(path: Path) -> None:
    replayer = Replayer(workflows=[*JOURNEYS, *TEST_JOURNEYS], workflow_runner=sandbox_runner())
    await replayer.replay_workflow(load(path))


async def test_an_unsafe_change_is_caught() -> None:
    replayer = Replayer(workflows=[cart_unsafe_edit.CartAbandonment], workflow_runner=sandbox_runner())
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(Path(__file__).parent / "histories" / "cart_abandonment_whole_story.json"))


async def test_a_declared_change_replays() -> None:
    """Runs from before any change (no input changes, no markers), from when changes
    were patch markers, and started with the changes in their input: none took the
    new path, so all replay on the edit."""
    replayer = Replayer(workflows=[cart_patched_edit.CartAbandonment], workflow_runner=sandbox_runner())
    for name in ("cart_abandonment_whole_story", "cart_abandonment_order_before_push_every_step_upserted",
                 "cart_abandonment_with_retargeting_audience_searchable_steps",
                 "cart_abandonment_with_retargeting_audience_email_at_24h",
                 "cart_abandonment_order_before_push_email_at_24h"):
        await replayer.replay_workflow(load(Path(__file__).parent / "histories" / f"{name}.json"))
