"""Ingestion throughput as a ratio against the raw baseline.

Baseline: the Temporal SDK's signal-with-start of the cart journey, straight to a
dev server. Sojourn: the same entries as Segment `track` calls through the API
(validation, auth, the events table, profile upsert, routing), on SQLite and, where
reachable, PostgreSQL. Same server, same concurrency. Prints a table and JSON.

    make bench            (BENCH_N=600 BENCH_CONCURRENCY=32 make bench)
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import asyncpg
import httpx
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from sojourn.migrate import upgrade
from sojourn.settings import Settings
from sojourn.temporal import dev_server_flags
from workflows.cart_abandonment import CartAbandonment
from workflows.events import SIGNAL, JourneyEvent
from workflows.journey import CUSTOMER_ID, JOURNEY_NAME, JourneyStart

N = int(os.environ.get("BENCH_N", "400"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
KEY = "bench-key"


async def timed(n: int, one: Callable[[int], Awaitable[None]]) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(i: int) -> None:
        async with gate:
            await one(i)

    start = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(n)))
    return n / (time.perf_counter() - start)


async def raw_baseline(env: WorkflowEnvironment, queue: str, run_id: str) -> float:
    async def one(i: int) -> None:
        customer = f"raw-{run_id}-{i}"
        event = JourneyEvent(message_id=str(uuid.uuid4()), type="track", name="Product Added",
                             customer_id=customer, properties={"product_id": "lip-42"})
        await env.client.start_workflow(
            CartAbandonment.run, JourneyStart(customer_id=customer), id=f"cart_abandonment:{customer}",
            task_queue=queue, start_signal=SIGNAL, start_signal_args=[event],
            search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_ID, customer),
                                                     SearchAttributePair(JOURNEY_NAME, "cart_abandonment")]),
        )

    return await timed(N, one)


async def through_api(env: WorkflowEnvironment, database_url: str, queue: str, run_id: str, label: str) -> float:
    await asyncio.to_thread(upgrade, database_url)
    settings = Settings(database_url=database_url, write_keys=[KEY], task_queue=queue)
    app = create_app(settings, temporal=env.client)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as http:
            async def one(i: int) -> None:
                body = {"userId": f"{label}-{run_id}-{i}", "event": "Product Added",
                        "messageId": str(uuid.uuid4()), "properties": {"product_id": "lip-42"}}
                response = await http.post("/v1/track", json=body, headers=auth)
                assert response.status_code == 200, response.text

            return await timed(N, one)


async def postgres_url() -> tuple[str, str] | None:
    try:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return None
    name = f"sojourn_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def main() -> None:
    temporal = str(Path(sys.executable).parent / "temporal") if (Path(sys.executable).parent / "temporal").exists() \
        else shutil.which("temporal")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal,
        dev_server_extra_args=dev_server_flags(),
    )
    results: dict[str, Any] = {"n": N, "concurrency": CONCURRENCY, "server": "temporal dev server, in memory"}
    run_id = uuid.uuid4().hex[:6]
    async with env:
        queue = f"bench-{run_id}"  # no worker: we measure acceptance, not journeys
        await raw_baseline(env, queue, run_id + "w")  # warm-up
        results["raw_signal_with_start_per_s"] = await raw_baseline(env, queue, run_id)
        with tempfile.TemporaryDirectory() as tmp:
            results["api_sqlite_per_s"] = await through_api(env, f"sqlite+aiosqlite:///{tmp}/b.db", queue, run_id, "sq")
        pg = await postgres_url()
        if pg:
            results["api_postgresql_per_s"] = await through_api(env, pg[1], queue, run_id, "pg")
            admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
            await admin.execute(f'DROP DATABASE "{pg[0]}" WITH (FORCE)')
            await admin.close()
    raw = results["raw_signal_with_start_per_s"]
    for key in ("api_sqlite_per_s", "api_postgresql_per_s"):
        if key in results:
            results[key.replace("_per_s", "_ratio_to_raw")] = results[key] / raw
    results["bench_process_max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'raw signal-with-start':28} {raw:8.0f}/s  1.00x")
    for key, label in (("api_sqlite", "API track, SQLite"), ("api_postgresql", "API track, PostgreSQL")):
        if f"{key}_per_s" in results:
            print(f"{label:28} {results[f'{key}_per_s']:8.0f}/s  {results[f'{key}_ratio_to_raw']:.2f}x")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
