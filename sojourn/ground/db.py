"""Async engine and session factory, shared by the API and the worker."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import any_, bindparam, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")


def make_engine(url: str, pool_size: int = 20, pool_timeout: float = 30.0) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the API, the worker and the CLI use one file at once;
            # foreign keys are off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # A pool as large as the requests and routing lanes in flight, with no overflow:
    # overflow connections are opened and closed per burst, each a new TCP (and TLS
    # negotiation) round. No pre-ping: it costs a round trip per transaction; a
    # connection found dead invalidates the pool, that one call gets 503 with
    # Retry-After, and SDKs retry it.
    return create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect(session: AsyncSession) -> str:
    """"postgresql" or "sqlite": the database this session talks to."""
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def rowcount(result: Any) -> int:
    """Rows an UPDATE, DELETE or INSERT touched (a `CursorResult`'s, typed loosely by SQLAlchemy)."""
    return int(result.rowcount or 0)


def upsert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that understands ON CONFLICT on both SQLite and PostgreSQL."""
    return insert_for(dialect(session))(table)


def among(column: Any, name: str, dialect: str) -> Any:
    """`column IN (the values of :name)`. On PostgreSQL, `column = ANY(:name)`: one array
    parameter, so the statement's text stays the same however many values it gets. An
    expanding IN renders a parameter per value, and its text (so the server's prepared
    statement) changes with their number: about 0.1-0.2 ms more CPU a statement at the
    30 values of a batch of sends (bench/sending.py)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def for_each_dialect(build: Callable[[str], T]) -> dict[str, T]:
    """A statement built once per database kind (`among`), looked up by `dialect(session)`."""
    return {name: build(name) for name in ("postgresql", "sqlite")}


def insert_for(dialect: str) -> Any:
    """The dialect's ON CONFLICT-capable `insert`, for statements built once, ahead of a session."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


_WRITE_LOCKS: dict[int, asyncio.Lock] = {}


def write_lock(sessions: async_sessionmaker[AsyncSession]) -> contextlib.AbstractAsyncContextManager[Any]:
    """SQLite takes one writer at a time, and a writer that finds the file locked
    sleeps in SQLite's busy handler (up to 100 ms a try). Queue this process's own
    writers in asyncio instead, so they never sleep on each other; PostgreSQL needs
    no such thing."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _WRITE_LOCKS.setdefault(id(engine), asyncio.Lock())


P = ParamSpec("P")


async def to_the_end(work: Awaitable[T]) -> T:
    """Run a transaction to its commit or rollback even if the caller is cancelled, then
    let the caller see its cancellation.

    A cancellation that lands inside a transaction can leave its connection holding
    SQLite's write lock for good: aiosqlite finishes the statement in its own thread,
    SQLAlchemy's rollback on the way out is cancelled too (the pool logs "Exception
    during reset"), and the connection is neither returned nor closed, so every other
    writer of the file waits out its busy timeout and fails with "database is locked".
    A router stopped mid-round did this to the next test's first insert (and would stall
    a shop on SQLite the same way); tests/test_sqlite_lock.py shows it."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait([task])  # a second cancellation leaves it to finish on its own
        raise


def runs_to_the_end(transaction: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """A transaction function that always reaches its commit or rollback (`to_the_end`)."""

    @functools.wraps(transaction)
    async def whole(*args: P.args, **kwargs: P.kwargs) -> T:
        return await to_the_end(transaction(*args, **kwargs))

    return whole
