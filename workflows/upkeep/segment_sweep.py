"""The sweep of timed segments, run by a Temporal Schedule (sojourn/ground/schedules.py).

A segment that changes only as time passes ("no order in 60 days") has no event to
announce that she joined it. Each scheduled run asks one activity for the customers
whose facts crossed the segment's line since the last sweep; the activity stores an
event for each, and the router takes it from there like any other event.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.kit.options import SEND_RETRY

with workflow.unsafe.imports_passed_through():
    from sojourn.ground.contracts import SWEEP_SEGMENTS, SweepRequest, SweepResult


@workflow.defn(name="SegmentSweep")
class SegmentSweep:
    @workflow.run
    async def run(self) -> SweepResult:
        # The sweep's time is the workflow's: a retried activity sweeps to the same
        # instant, so it stores the same events (and the store drops them as duplicates).
        return await workflow.execute_activity(
            SWEEP_SEGMENTS, SweepRequest(as_of=workflow.now().isoformat()), result_type=SweepResult,
            start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=timedelta(minutes=2),
            retry_policy=SEND_RETRY,
        )
