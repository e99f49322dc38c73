"""The kit's events: a journey records an event for a customer, hers or another's (the
friend's first order credited to the referrer), stored and routed like any event, so
other journeys can enter on it and KPIs count it."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows.kit.base import Kit
from workflows.kit.options import RECORD_TIMEOUT, SEND_RETRY

with workflow.unsafe.imports_passed_through():
    from sojourn.ground.contracts import RECORD_EVENT, EventRecord


class Records(Kit):
    """Mixed into Journey: uses its journal and timeline."""

    async def record_event(self, step: str, *, customer_id: str, event: str,
                           properties: dict[str, Any] | None = None) -> None:
        """Store `event` for `customer_id` at the journey's time, once: its message id is
        this run's and `step`'s, so a retry, a replay or the run after continue-as-new
        stores nothing twice."""
        key = f"event:{step}"
        if key in self.s.journal:
            return
        info = workflow.info()
        await workflow.execute_activity(
            RECORD_EVENT,
            EventRecord(message_id=f"{info.workflow_id}/{info.first_execution_run_id}/{step}"[:255],
                        customer_id=customer_id, name=event, properties=dict(properties or {}),
                        timestamp=workflow.now().isoformat()),
            start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY, summary=f"{step}: {event}",
        )
        self.s.journal[key] = True
        self._note(f"{step}: recorded {event} for {customer_id}")
