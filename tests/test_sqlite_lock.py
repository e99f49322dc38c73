"""Who held SQLite's write lock: a transaction cut short by a cancellation.

A fresh-clone `make test` once failed with "database is locked" on a test's very
first insert, after SQLite's 30 s busy timeout. The holder was the router of the
test before: its app stopped by cancelling the router mid-round, the cancellation
landed inside a claim's or a settle's transaction, SQLAlchemy's rollback on the way
out was cancelled too, and the connection, neither returned nor closed, kept the
file's write lock. A shop on SQLite would stall the same way each time `sojourn api`
stopped mid-round. These tests stop routers at random moments of their rounds, on a
file of their own, and then ask for the write lock with a short timeout."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from sojourn.ground.db import make_engine, make_sessionmaker, to_the_end
from sojourn.ground.migrate import upgrade
from sojourn.ground.models import Event, utcnow
from sojourn.ground.settings import Settings
from sojourn.pipeline import queue
from sojourn.pipeline.router import Router

STOPS = 60


@pytest.fixture(scope="module")
async def sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Path]:
    path = tmp_path_factory.mktemp("lock") / "sojourn.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    yield path


def writable(path: Path) -> bool:
    """Can another process take the write lock now (within half a second)?"""
    connection = sqlite3.connect(path, timeout=0.5, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


async def store_events(sessions: Any, count: int) -> None:
    now = utcnow()
    async with sessions() as session:
        await session.execute(insert(Event), [
            {"message_id": f"lock-{uuid.uuid4().hex}", "type": "track", "customer_id": f"c-{i % 7}",
             "name": "Product Viewed", "properties": {}, "context": {}, "timestamp": now, "received_at": now}
            for i in range(count)])
        await session.commit()


async def test_a_router_stopped_mid_round_leaves_the_file_writable(sqlite_file: Path) -> None:
    """The app's way of stopping its router: cancel run_forever, then dispose the engine."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{sqlite_file}", router_batch=20, router_loops=2)
    for stop in range(STOPS):
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        await store_events(sessions, 200)
        router = Router(None, settings, sessions, [])  # no journeys: rounds claim and settle, no RPC
        routing = asyncio.create_task(router.run_forever())
        router.notify()
        await asyncio.sleep(random.uniform(0.0, 0.05))
        routing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await routing
        await engine.dispose()
        assert writable(sqlite_file), f"the write lock was still held after stop {stop + 1}"


async def test_a_cancelled_claim_or_settle_still_ends_its_transaction(sqlite_file: Path) -> None:
    """The queue's own transactions, cancelled at any moment by any caller."""
    engine = make_engine(f"sqlite+aiosqlite:///{sqlite_file}")
    sessions = make_sessionmaker(engine)
    owner = f"lock-{uuid.uuid4().hex[:8]}"

    async def rounds() -> None:
        while True:
            claimed = await queue.claim(sessions, owner, limit=20, lease=timedelta(seconds=30))
            ids = [e.id for events in claimed.values() for e in events]
            await queue.settle(sessions, owner, routed=ids, failed=[], released=[], max_attempts=3,
                               retry_base=timedelta(seconds=1))

    try:
        for stop in range(STOPS):
            await store_events(sessions, 100)
            task = asyncio.create_task(rounds())
            await asyncio.sleep(random.uniform(0.0, 0.03))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert writable(sqlite_file), f"the write lock was still held after stop {stop + 1}"
    finally:
        await engine.dispose()


async def test_to_the_end_lets_the_work_finish_and_the_caller_see_its_cancellation() -> None:
    finished = asyncio.Event()

    async def work() -> str:
        await asyncio.sleep(0.05)
        finished.set()
        return "done"

    caller = asyncio.create_task(to_the_end(work()))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert finished.is_set()
    assert await to_the_end(work()) == "done"
