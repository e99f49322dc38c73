"""Group commit for the send activities: the database work of sends running at the
same time in one worker goes in one transaction instead of one each.

A call made while a batch is in flight waits for it and goes with the others in the
next one; a call made when nothing is in flight runs at once, so a lone send waits
for no company. A transaction costs a worker far more than a row (the pool, BEGIN,
COMMIT, the ORM's bookkeeping: about 2 ms of CPU each), so at 32 concurrent sends this
is what lets the ledger keep up with raw SMTP and push (bench/sending.py).

Each caller still gets its own answer or its own error: when a batch fails, its calls
are run again one by one, so one bad row fails only its own send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalesced(Generic[T, R]):
    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]], limit: int = 64) -> None:
        self._run = run
        self._limit = limit
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._draining: asyncio.Task[None] | None = None
        self.runs = 0  # transactions, for tests and the bench

    async def __call__(self, item: T) -> R:
        return await self._enqueue(item)

    async def each(self, items: Sequence[T]) -> list[R]:
        """Several calls at once: in one batch (up to the limit), with no task each."""
        futures = [self._enqueue(item) for item in items]
        return [await future for future in futures]

    def _enqueue(self, item: T) -> asyncio.Future[R]:
        loop = asyncio.get_running_loop()
        if self._draining is not None and self._draining.get_loop() is not loop:
            self._draining, self._pending = None, []  # an earlier event loop's (a test's): gone with it
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self._limit], self._pending[self._limit:]
            try:
                await self._settle(batch)
            except BaseException as exc:  # cancelled (the worker stops): no caller waits forever
                for _, future in batch + self._pending:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("batch cancelled"))
                self._pending = []
                raise

    async def _settle(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.runs += 1
        error: Exception | None
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to the callers
            if len(batch) > 1:
                for one in batch:  # so one bad row fails only its own send
                    await self._settle([one])
                return
            results, error = [], exc
        else:
            error = None
        for index, (_, future) in enumerate(batch):
            if future.done():  # the caller was cancelled; the work is done regardless
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(results[index])
