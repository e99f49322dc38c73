"""The worker's CPU per journey start, by how the workflow sandbox is set up.

The sandbox re-imports, for every new run, each module not passed through. Sojourn
passes its kit through (worker.KIT_MODULES) and keeps each journey's own file
sandboxed. Measured here in one process against one dev server: CPU seconds (worker
plus the starting client) per cart journey, from its start until it waits on its
first timer, for the whole sandbox, Sojourn's setting, and everything passed through.

    .venv/bin/python -m bench.worker_cost        (BENCH_N=200)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.journey_memory import fill, settle
from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.migrate import upgrade
from sojourn.ground.settings import Settings
from sojourn.ground.temporal import dev_server_flags
from worker import KIT_MODULES, build_worker, sandbox_runner
from workflows.journeys.cart_abandonment import CartAbandonment

N = int(os.environ.get("BENCH_N", "200"))

RUNNERS = {
    # Only what must be: the sandbox's zoneinfo proxy is not a real tzinfo.
    "whole_sandbox": lambda: SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("sojourn.ground.calendar")),
    "kit_passed_through": sandbox_runner,  # what `sojourn worker` runs
    "all_passed_through": lambda: SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*KIT_MODULES, "workflows")),
}


async def main() -> None:
    beside = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(beside),
                                                dev_server_extra_args=dev_server_flags())
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        async with env:
            for name, runner in RUNNERS.items():
                queue = f"cost-{name}"
                worker = build_worker(env.client, Settings(database_url=url, task_queue=queue), sessions,
                                      workflow_runner=runner(), max_cached_workflows=N * 2)
                async with worker:
                    await fill(env, CartAbandonment, queue, f"{name}w", count=20)  # imports, caches
                    await settle(env, f"{name}w", count=20)
                    began = time.process_time()
                    await fill(env, CartAbandonment, queue, name)
                    await settle(env, name)
                    results[name] = (time.process_time() - began) / N * 1000
        await engine.dispose()
    base = results["whole_sandbox"]
    print(json.dumps({
        "journeys": N,
        "cpu_ms_per_journey_start": {k: round(v, 1) for k, v in results.items()},
        "ratio_to_whole_sandbox": {k: round(v / base, 2) for k, v in results.items()},
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
