"""A `sojourn worker` process's memory (RSS) with 1,000 and then 10,000 cart journeys
waiting on their timers, by workflow cache size (SOJOURN_WORKFLOW_CACHE_SIZE).

A journey waiting on a timer costs its worker nothing but the cache entry: Temporal
keeps its state on the server and the worker replays its history when it wakes. With
the cache bounded, RSS must stay flat from 1,000 to 10,000 waiting journeys; with a
cache larger than the count, RSS grows by the bytes each cached journey holds, which
is how this bench measures them.

Real parts: a Temporal dev server, the worker as its own process on PostgreSQL (SQLite
if PostgreSQL is not there), journeys started with the SDK's signal-with-start.

    BENCH_CACHES=100,1000,2000,10000 BENCH_COUNTS=1000,10000 .venv/bin/python -m bench.worker_memory
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.pipeline import CART, free_port, postgres, quiet, raw_signal_with_start
from sojourn.devtools.devstack import temporal_cli
from sojourn.ground.migrate import upgrade
from sojourn.ground.settings import WORKFLOW_CACHE_SIZE
from sojourn.ground.temporal import dev_server_flags

CACHES = [int(c) for c in os.environ.get("BENCH_CACHES", f"100,{WORKFLOW_CACHE_SIZE},10000").split(",")]
COUNTS = [int(c) for c in os.environ.get("BENCH_COUNTS", "1000,10000").split(",")]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def waiting(client: Client, tag: str, index: int) -> bool:
    """Her journey has reached its first timer (the worker ran its first task)."""
    handle = client.get_workflow_handle(CART.workflow_id(f"raw-{tag}-{index}"))
    return any([e.timer_started_event_attributes.timer_id async for e in handle.fetch_history_events()])


async def one_cache_size(env: WorkflowEnvironment, address: str, database_url: str, cache: int) -> dict[str, Any]:
    queue = f"bench-mem-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "sojourn"), "worker"], stderr=subprocess.DEVNULL,
        env={**os.environ, "SOJOURN_TEMPORAL_ADDRESS": address, "SOJOURN_DATABASE_URL": database_url,
             "SOJOURN_TASK_QUEUE": queue, "SOJOURN_WORKER_METRICS_ADDRESS": "",
             "SOJOURN_WORKFLOW_CACHE_SIZE": str(cache)},
    )
    tag = uuid.uuid4().hex[:6]
    out: dict[str, Any] = {"cache": cache}
    try:
        await raw_signal_with_start(env.client, queue, tag, count=20)  # imports, the sandbox, pools: not per journey
        await quiet()
        out["rss_mb_warm"] = round(rss_mb(worker.pid), 1)
        entered = 20
        for count in COUNTS:
            began = time.perf_counter()
            await raw_signal_with_start(env.client, queue, tag, count=count - entered, first=entered)
            checked, entered = (entered, count // 2, count - 1), count
            await quiet()
            for _ in range(900):  # each journey's first task has run: every one waits on its timer
                if all([await waiting(env.client, tag, i) for i in checked]):
                    break
                await asyncio.sleep(1)
            else:
                raise SystemExit(f"journeys {count // 2} and {count - 1} did not reach their timers in 15 min")
            await quiet()
            out[f"rss_mb_{count}"] = round(rss_mb(worker.pid), 1)
            print(f"  cache {cache}: {count} waiting, RSS {out[f'rss_mb_{count}']} MB "
                  f"({time.perf_counter() - began:.0f} s)", file=sys.stderr)
        return out
    finally:
        worker.send_signal(2)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


async def main() -> None:
    temporal = temporal_cli()
    port = free_port()
    env = await WorkflowEnvironment.start_local(port=port, dev_server_existing_path=temporal,
                                                dev_server_extra_args=dev_server_flags())
    results: dict[str, Any] = {"counts": COUNTS, "journey": "cart_abandonment, waiting on its 1 h timer"}
    async with env, AsyncExitStack() as stack:
        url = await stack.enter_async_context(postgres())
        if url is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        results["database"] = url.split("+")[0]
        await asyncio.to_thread(upgrade, url)
        results["runs"] = [await one_cache_size(env, f"127.0.0.1:{port}", url, cache) for cache in CACHES]

    first, last = COUNTS[0], COUNTS[-1]
    print(f"{'cache size':>10} {'warm':>8} " + " ".join(f"{f'{c:,} waiting':>14}" for c in COUNTS))
    for run in results["runs"]:
        print(f"{run['cache']:>10} {run['rss_mb_warm']:7.0f}M " + " ".join(f"{run[f'rss_mb_{c}']:13.0f}M" for c in COUNTS))
    # Bytes per cached journey: a cache holding every journey, from the first count to the last.
    roomy = [r for r in results["runs"] if r["cache"] >= last]
    if roomy:
        grown = roomy[0][f"rss_mb_{last}"] - roomy[0][f"rss_mb_{first}"]
        results["kb_per_cached_journey"] = round(grown * 1024 / (last - first), 1)
        print(f"per cached journey: {results['kb_per_cached_journey']} KB of RSS "
              f"(cache {roomy[0]['cache']:,}, from {first:,} to {last:,} waiting)")
    for run in results["runs"]:
        if run["cache"] <= first:
            growth = run[f"rss_mb_{last}"] - run[f"rss_mb_{first}"]
            print(f"cache {run['cache']:,}: {growth:+.0f} MB from {first:,} to {last:,} waiting journeys")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
