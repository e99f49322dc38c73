"""Migrations are the only way tables are made, so they must match the models and
go down and up again cleanly, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from sojourn.ground.db import make_engine
from sojourn.ground.migrate import alembic_config
from sojourn.ground.models import Base
from tests.conftest import new_database


async def diff_against_models(url: str) -> list:
    engine = make_engine(url)

    def compare(conn: Connection) -> list:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    async with engine.connect() as conn:
        diff = await conn.run_sync(compare)
    await engine.dispose()
    return diff


async def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    assert await diff_against_models(database_url) == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_migrations_go_up_down_and_up_again(kind: str, tmp_path: Path) -> None:
    async with new_database(kind, tmp_path) as url:
        cfg = alembic_config(url)
        await asyncio.to_thread(command.upgrade, cfg, "head")
        await asyncio.to_thread(command.downgrade, cfg, "base")
        await asyncio.to_thread(command.upgrade, cfg, "head")
        assert await diff_against_models(url) == []
