"""The Sojourn worker: runs every registered journey and the activities that send.

    python worker.py        (or `sojourn worker`)
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.audiences import AudienceActivities
from activities.coupons import CouponActivities
from activities.email import EmailActivities
from activities.intelligence import IntelligenceActivities
from activities.ledger import LedgerActivities
from activities.onsite import OnsiteActivities
from activities.profiles import ProfileActivities
from activities.push import PushActivities
from activities.records import RecordActivities
from activities.rendering import ContentTemplates
from activities.segment_sweep import SegmentActivities
from activities.webhook import WebhookActivities
from sojourn.content.store import ContentStore
from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.schedules import ensure_schedules
from sojourn.ground.settings import Settings, get_settings
from sojourn.ground.spec import check_journey_settings
from sojourn.ground.temporal import connect, ensure_search_attributes, metrics_runtime
from sojourn.pipeline.membership import Watch
from workflows.registry import JOURNEYS
from workflows.upkeep.audience_sync import AudienceSync
from workflows.upkeep.likelihood_refresh import LikelihoodRefresh
from workflows.upkeep.recommendations_refresh import RecommendationsRefresh
from workflows.upkeep.segment_sweep import SegmentSweep


def watched(journeys: Sequence[type]) -> Watch:
    """The segments the journeys enter, exit or are only for."""
    return Watch.of([j.spec for j in journeys if hasattr(j, "spec")])


def activities_for(settings: Settings, sessions: async_sessionmaker[AsyncSession], watch: Watch | None = None) -> Sequence[Any]:
    # What the marketer published (sojourn/content/store.py), at each send's revision.
    templates = ContentTemplates(ContentStore(sessions, settings.templates_dir))
    email = EmailActivities(settings, sessions, templates)
    push = PushActivities(settings, sessions, templates)
    webhook = WebhookActivities(settings, sessions, templates)
    onsite = OnsiteActivities(settings, sessions, templates)
    records = RecordActivities(sessions, watch or watched(JOURNEYS))
    profiles = ProfileActivities(sessions)
    ledger = LedgerActivities(sessions)
    segments = SegmentActivities(sessions, watch or watched(JOURNEYS))
    coupons = CouponActivities(sessions)
    intelligence = IntelligenceActivities(sessions, settings.default_timezone, settings.recommend_exclude,
                                          settings.likelihood_days, watch or watched(JOURNEYS))
    audience = AudienceActivities(settings, sessions)
    return [
        ledger.give_up_send,
        email.send_email,
        push.send_push,
        webhook.send_webhook,
        onsite.send_onsite,
        onsite.withdraw_onsite,
        coupons.issue_coupon,
        profiles.load_profile,
        profiles.load_facts,
        records.record_entry,
        records.record_assignment,
        records.record_conversion,
        records.record_end,
        records.record_event,
        segments.sweep_segments,
        intelligence.choose_channel,
        intelligence.refresh_recommendations,
        intelligence.refresh_likelihood,
        intelligence.best_time,
        intelligence.recommend,
        intelligence.replenish_days,
        audience.change_audience,
        audience.sync_audiences,
    ]


# The kit: project code, reviewed, deterministic and replay-tested in CI. The sandbox
# re-imports every module that is not passed through for each new run; passing the
# kit through cuts the worker's CPU per journey start by about 45% (bench/worker_cost.py).
# Each journey's own file stays sandboxed, so a story that reads the clock or random
# is still caught at run time. Passed through with it: the ground's pure contracts, the
# only part of the ground workflows may import (pyproject.toml's contracts say so).
PURE_GROUND = ("sojourn.ground.calendar", "sojourn.ground.calls", "sojourn.ground.contracts", "sojourn.ground.events",
               "sojourn.ground.facts", "sojourn.ground.segments", "sojourn.ground.spec")
KIT_MODULES = ("workflows.kit", "workflows.upkeep", "workflows.segments", *PURE_GROUND)


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox with the kit passed through. (sojourn.ground.calendar must be:
    the sandbox's proxy of zoneinfo is not a real tzinfo.) The Replayer uses this too."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*KIT_MODULES))


def build_worker(
    client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession], extra_workflows: Sequence[type] = (), **options: Any
) -> Worker:
    workflows = [*JOURNEYS, *extra_workflows]
    check_journey_settings([j.spec for j in workflows if hasattr(j, "spec")], settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[*workflows, SegmentSweep, RecommendationsRefresh, LikelihoodRefresh, AudienceSync],
        activities=activities_for(settings, sessions, watched(workflows)),
        **{"workflow_runner": sandbox_runner(), "max_cached_workflows": settings.workflow_cache_size, **options},
    )


GC_YOUNGEST = 10_000  # allocations between collections of the youngest generation (Python's default: 700)


def settle_heap() -> None:
    """Once started: what was made so far (modules, classes, the kit, caches) lives as
    long as the worker, so the garbage collector stops walking it; without this each of
    its full passes walked some 180,000 objects, about 80 ms, every hundred or so emails.
    And it collects less often: a send allocates thousands of objects, nearly all freed
    by reference counting, and at the default threshold the collections that found
    little took about 0.3 ms of CPU per email (bench/sending.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST, *gc.get_threshold()[1:])


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = get_settings()
    engine = make_engine(settings.database_url, settings.database_pool_size, settings.database_pool_timeout_seconds)
    # The worker's Prometheus endpoint: the Temporal SDK's metrics and Sojourn's sends.
    runtime = metrics_runtime(settings.worker_metrics_address) if settings.worker_metrics_address else None
    client = await connect(settings, runtime=runtime)
    await ensure_search_attributes(client)
    await ensure_schedules(client, settings, watched(JOURNEYS))
    worker = build_worker(client, settings, make_sessionmaker(engine))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    settle_heap()
    logging.info("polling task queue %s on %s", settings.task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
