"""Secrets generated on first run and kept in the database, so the API and every
worker agree on them without sharing a file."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.ground.db import upsert
from sojourn.ground.models import AppSecret


async def load_or_create(sessions: async_sessionmaker[AsyncSession], name: str, generate: Callable[[], str]) -> str:
    async with sessions() as session:
        stored = await session.scalar(select(AppSecret.value).where(AppSecret.name == name))
        if stored is None:
            # Two processes may race here on first run; the insert that loses is a
            # no-op and both read back the winner's value.
            await session.execute(
                upsert(session, AppSecret).values(name=name, value=generate()).on_conflict_do_nothing(index_elements=["name"])
            )
            await session.commit()
            stored = await session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    assert stored is not None
    return stored
