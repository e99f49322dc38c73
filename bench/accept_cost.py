"""What segments and identity cost when a call is accepted, as a ratio against the
store with neither, in the same run on the same database.

The store (sojourn/pipeline/store.py) commits each request in one transaction. When a
registered journey uses a segment (the first-purchase incentive is `only_for`
never-purchased), that transaction also reads her facts (locked on PostgreSQL) and
records her membership on the event; a message with only an anonymous id is looked up
in `identities`. Measured here: CPU and wall time per single-message request, one
request at a time (no contention), for a cart `track` call by a known customer and a
`Product Viewed` by an anonymous visitor, with the watched segments of:
- `none`: no journey uses a segment (the baseline);
- `segments`: the first-purchase incentive is registered (`only_for` and `Leaves`
  never-purchased), so every request reads and locks her facts and records membership.
Each is run twice, alternating, and the faster run counts (the first runs warm caches).

    .venv/bin/python -m bench.accept_cost        (BENCH_N=1000; PostgreSQL if reachable)
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from typing import Any

import asyncpg

from sojourn.ground.calls import Call
from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.migrate import upgrade
from sojourn.pipeline.membership import Watch
from sojourn.pipeline.store import Store
from workflows.journeys.first_purchase_incentive import FirstPurchaseIncentive
from workflows.registry import specs

N = int(os.environ.get("BENCH_N", "1000"))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def message(kind: str, i: int, run: str) -> Call:
    if kind == "known_track":
        return Call(type="track", message_id=f"{run}-{kind}-{i}", customer_id=f"c-{run}-{i % 200}",
                       user_id=f"c-{run}-{i % 200}", anonymous_id=None, name="Product Added",
                       properties={"product_id": "lip-42", "price": 24.0})
    return Call(type="track", message_id=f"{run}-{kind}-{i}", customer_id=f"a-{run}-{i % 200}",
                   user_id=None, anonymous_id=f"a-{run}-{i % 200}", name="Product Viewed",
                   properties={"product_id": f"p-{i % 30}"})


async def measure(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    watches = {"none": Watch.of(specs()), "segments": Watch.of([*specs(), FirstPurchaseIncentive.spec])}
    results: dict[str, Any] = {}
    for kind in ("known_track", "anonymous_view"):
        for name, watch in [*watches.items(), *watches.items()]:
            store = Store(sessions, lambda m: True, watch=watch)
            run = uuid.uuid4().hex[:8]
            for i in range(50):  # warm up: connections, compiled statements
                await store.accept([message(kind, i, run + "w")])
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(N):
                await store.accept([message(kind, i, run)])
            figures = {"cpu_ms": round((time.process_time() - cpu) / N * 1000, 3),
                       "wall_ms": round((time.perf_counter() - wall) / N * 1000, 3)}
            earlier = results.get(f"{kind}/{name}")
            results[f"{kind}/{name}"] = figures if earlier is None else {
                k: min(v, earlier[k]) for k, v in figures.items()}
        base, full = results[f"{kind}/none"], results[f"{kind}/segments"]
        results[f"{kind}/ratio"] = {k: round(full[k] / base[k], 2) for k in ("cpu_ms", "wall_ms")}
    await engine.dispose()
    return results


async def main() -> None:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, url)
        out["sqlite"] = await measure(url)
    try:
        admin = await asyncpg.connect(PG_ADMIN, timeout=3)
    except OSError:
        admin = None
    if admin is not None:
        name = f"sojourn_bench_{uuid.uuid4().hex[:8]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
            await asyncio.to_thread(upgrade, url)
            out["postgresql"] = await measure(url)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
