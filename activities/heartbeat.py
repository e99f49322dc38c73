"""Heartbeats while a send runs, so a worker that dies mid-send is noticed within the
journey's heartbeat timeout (seconds) rather than the start-to-close timeout
(minutes), and the send is retried on another worker, where the ledger decides."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity

EVERY_SECONDS = 2.0


@contextlib.asynccontextmanager
async def keep_alive(every: float = EVERY_SECONDS) -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
