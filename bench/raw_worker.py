"""A worker process for bench/pipeline.py's raw baseline: only the raw workflow
(bench/raw_workflow.py: take the entry signal, sleep on a timer, the first steps of the
cart journey), with the sandbox set up as `sojourn worker` sets it (the kit passed
through, the workflow's own module sandboxed) and the same workflow cache.

    python -m bench.raw_worker <temporal address> <task queue>
"""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench.raw_workflow import RawWait
from sojourn.ground.settings import Settings
from worker import sandbox_runner


async def main(address: str, queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=queue, workflows=[RawWait], workflow_runner=sandbox_runner(),
                      max_cached_workflows=Settings().workflow_cache_size):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
