"""The ad audiences' sync, run by a Temporal Schedule (sojourn/ground/schedules.py) while
destinations are configured: one activity tells each platform who joined and left."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.kit.options import SEND_RETRY

with workflow.unsafe.imports_passed_through():
    from sojourn.ground.contracts import SYNC_AUDIENCES, AudienceSyncResult


@workflow.defn(name="AudienceSync")
class AudienceSync:
    @workflow.run
    async def run(self) -> AudienceSyncResult:
        return await workflow.execute_activity(
            SYNC_AUDIENCES, result_type=AudienceSyncResult, start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2), retry_policy=SEND_RETRY, summary="sync ad audiences",
        )
