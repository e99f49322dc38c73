"""Temporal Schedules Sojourn keeps: the sweep of timed segments, and the refresh of
the recommendation tables, and the sync of ad audiences (while destinations are set).

Created or updated when a worker starts, so each schedule follows the deployed code:
the sweep is present while some journey watches a timed segment; the refresh always,
every SOJOURN_RECOMMEND_REFRESH_SECONDS. Operators see them in the Temporal UI's
Schedules tab; pausing one there pauses it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

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

from sojourn.ground.segments import Segment
from sojourn.ground.settings import Settings

log = logging.getLogger("sojourn.ground.schedules")
SEGMENT_SWEEP = "sojourn-segment-sweep"
RECOMMENDATIONS = "sojourn-recommendations"
AUDIENCES = "sojourn-audiences"
LIKELIHOOD = "sojourn-likelihood"


class Watched(Protocol):
    """The segments the running journeys watch (the pipeline's `Watch`)."""

    @property
    def segments(self) -> Sequence[Segment]: ...


def segment_sweep(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "SegmentSweep", id=f"{SEGMENT_SWEEP}-run", task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.segment_sweep_seconds))]),
        # A sweep that runs long is not run twice at once; the next one catches up.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def recommendations_refresh(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "RecommendationsRefresh", id=f"{RECOMMENDATIONS}-run", task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(
            every=timedelta(seconds=settings.recommend_refresh_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def likelihood_refresh(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow("LikelihoodRefresh", id=f"{LIKELIHOOD}-run", task_queue=settings.task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(
            every=timedelta(seconds=settings.likelihood_refresh_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def audience_sync(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow("AudienceSync", id=f"{AUDIENCES}-run", task_queue=settings.task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.audience_sync_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedules(client: Client, settings: Settings, watch: Watched,
                           schedule_id: str = SEGMENT_SWEEP, recommendations_id: str | None = RECOMMENDATIONS,
                           audiences_id: str | None = AUDIENCES, likelihood_id: str | None = LIKELIHOOD) -> None:
    """Each schedule as the code says (an id of None: that one is left alone, for tests)."""
    await _ensure(client, schedule_id, segment_sweep(settings) if any(s.timed for s in watch.segments) else None,
                  "no journey watches a timed segment")
    if recommendations_id is not None:
        await _ensure(client, recommendations_id, recommendations_refresh(settings), "")
    if likelihood_id is not None:
        await _ensure(client, likelihood_id, likelihood_refresh(settings), "")
    if audiences_id is not None:
        await _ensure(client, audiences_id, audience_sync(settings) if settings.audience_destinations else None,
                      "no ad audience destination is configured")


async def _ensure(client: Client, schedule_id: str, wanted: Schedule | None, why_not: str) -> None:
    handle = client.get_schedule_handle(schedule_id)
    if wanted is None:
        try:
            await handle.delete()
            log.info("%s: schedule %s deleted", why_not, schedule_id)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        return
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
