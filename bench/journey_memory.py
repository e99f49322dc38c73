"""Worker memory per open journey, as a ratio against a raw Temporal workflow that
does the least a cart journey must (take a signal, sleep on a timer).

N customers enter; the worker keeps every run cached while it waits on its timer.
Measured: Python memory held per cached workflow (tracemalloc, which sees inside the
workflow sandbox; RSS deltas in one process are skewed by allocator reuse), kit vs
raw, and the history length a journey has while waiting.

    BENCH_N=400 .venv/bin/python -m bench.journey_memory
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tempfile
import tracemalloc
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.raw_workflow import RawWait
from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.events import SIGNAL, JourneyEvent
from sojourn.ground.migrate import upgrade
from sojourn.ground.settings import Settings
from sojourn.ground.temporal import dev_server_flags
from worker import build_worker, sandbox_runner
from workflows.journeys.cart_abandonment import CartAbandonment
from workflows.kit.journey import JourneyStart, start_attributes

N = int(os.environ.get("BENCH_N", "300"))


def traced_kb() -> float:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] / 1024


async def fill(env: WorkflowEnvironment, kind: type, queue: str, tag: str, count: int = N) -> None:
    for i in range(count):
        customer = f"{tag}-{i}"
        event = JourneyEvent(message_id=str(uuid.uuid4()), type="track", name="Product Added",
                             customer_id=customer, properties={"product_id": "lip-42", "name": "Velvet Lipstick"})
        await env.client.start_workflow(
            kind.run, JourneyStart(customer_id=customer), id=f"bench-{tag}-{i}", task_queue=queue,
            start_signal=SIGNAL, start_signal_args=[event],
            search_attributes=start_attributes(CartAbandonment.spec, customer),
        )


async def settle(env: WorkflowEnvironment, tag: str, count: int = N) -> None:
    """Until the last run has reached its timer (its first workflow task is done)."""
    for _ in range(600):
        await asyncio.sleep(0.5)
        handle = env.client.get_workflow_handle(f"bench-{tag}-{count - 1}")
        events = [e async for e in handle.fetch_history_events()]
        if any(e.timer_started_event_attributes.timer_id for e in events):
            return


async def measure(env: WorkflowEnvironment, make_worker, kind: type, tag: str) -> tuple[float, int]:  # noqa: ANN001
    queue = f"bench-{tag}"
    async with make_worker(f"{queue}-warm"):  # imports and sandbox set-up are not per journey
        await fill(env, kind, f"{queue}-warm", f"{tag}w", count=20)
        await settle(env, f"{tag}w", count=20)
    gc.collect()
    async with make_worker(queue):
        tracemalloc.start()
        before = traced_kb()
        await fill(env, kind, queue, tag)
        await settle(env, tag)
        grown = traced_kb() - before
        tracemalloc.stop()
        history = [e async for e in env.client.get_workflow_handle(f"bench-{tag}-0").fetch_history_events()]
    return grown / N, len(history)


async def main() -> None:
    beside = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(beside), dev_server_extra_args=dev_server_flags())
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        async with env:
            def raw_worker(queue: str) -> Worker:
                return Worker(env.client, task_queue=queue, workflows=[RawWait],
                              workflow_runner=sandbox_runner(), max_cached_workflows=N * 2)

            def kit_worker(queue: str) -> Worker:
                # Every run stays cached, as on a busy worker.
                return build_worker(env.client, Settings(database_url=url, task_queue=queue), sessions,
                                    max_cached_workflows=N * 2)

            raw_kb, raw_events = await measure(env, raw_worker, RawWait, "raw")
            kit_kb, kit_events = await measure(env, kit_worker, CartAbandonment, "kit")
        await engine.dispose()
    result = {
        "journeys": N,
        "raw_kb_per_cached_workflow": round(raw_kb, 1),
        "kit_kb_per_cached_journey": round(kit_kb, 1),
        "memory_ratio_to_raw": round(kit_kb / raw_kb, 2) if raw_kb > 0 else None,
        "raw_history_events_while_waiting": raw_events,
        "kit_history_events_while_waiting": kit_events,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
