"""Async engine and session factory, shared by the API and the worker."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


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


def upsert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that understands ON CONFLICT on both SQLite and PostgreSQL."""
    return insert_for(session.bind.dialect.name if session.bind is not None else "sqlite")(table)


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
