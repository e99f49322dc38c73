"""Temporal Schedules Sojourn keeps: the sweep of timed segments.

Created or updated when a worker starts, so the schedule follows the deployed code:
present while some journey watches a timed segment, with the configured interval.
Operators see it in the Temporal UI's Schedules tab; pausing it there pauses sweeping.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from sojourn.pipeline.membership import Watch
from sojourn.settings import Settings

log = logging.getLogger("sojourn.schedules")
SEGMENT_SWEEP = "sojourn-segment-sweep"


def segment_sweep(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "SegmentSweep", id=f"{SEGMENT_SWEEP}-run", task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.segment_sweep_seconds))]),
        # A sweep that runs long is not run twice at once; the next one catches up.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedules(client: Client, settings: Settings, watch: Watch,
                           schedule_id: str = SEGMENT_SWEEP) -> None:
    handle = client.get_schedule_handle(schedule_id)
    if not any(s.timed for s in watch.segments):
        try:
            await handle.delete()
            log.info("no journey watches a timed segment: schedule %s deleted", schedule_id)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        return
    wanted = segment_sweep(settings)
    try:
        await client.create_schedule(schedule_id, wanted)
        log.info("schedule %s created", schedule_id)
    except ScheduleAlreadyRunningError:
        async def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            # What the code says; its state (an operator's pause, a note) is kept.
            schedule = current.description.schedule
            schedule.action, schedule.spec, schedule.policy = wanted.action, wanted.spec, wanted.policy
            return ScheduleUpdate(schedule=schedule)

        await handle.update(update)
