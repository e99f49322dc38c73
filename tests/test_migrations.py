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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_anonymous_profiles_move_to_their_own_namespace(kind: str, tmp_path: Path) -> None:
    """#26.3: 0018 files every anonymous profile, and what is filed under it, under
    "anonymous:<id>"; customers stay where they are; and back down again."""
    from sqlalchemy import select

    from sojourn.ground.db import make_sessionmaker
    from sojourn.ground.models import AnonymousClaim, Customer, Event, Identity, PushSubscription, utcnow

    async with new_database(kind, tmp_path) as url:
        cfg = alembic_config(url)
        await asyncio.to_thread(command.upgrade, cfg, "0017")
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        now = utcnow()
        async with sessions() as session:
            # Core, not the ORM: the models have columns later revisions add.
            for cid, anon, known in (("visitor-1", "visitor-1", False), ("claimed-2", None, False),
                                     ("lisa", "visitor-0", True), ("server-made", None, False)):
                await session.execute(Customer.__table__.insert().values(
                    id=cid, anonymous_id=anon, known=known, traits={}, created_at=now, updated_at=now,
                    orders_count=0, revenue=0.0, last_order_products=[], recently_viewed=[]))
            session.add(AnonymousClaim(anonymous_id="claimed-2", claimed_at=now))
            session.add(PushSubscription(customer_id="claimed-2", endpoint="https://push.test/2", p256dh="k",
                                         auth="a", created_at=now))
            # Core, not the ORM: the model has columns later revisions add.
            await session.execute(Event.__table__.insert().values(
                message_id="m-1", type="track", customer_id="visitor-1", anonymous_id="visitor-1",
                name="Product Viewed", properties={}, context={}, timestamp=now, received_at=now))
            session.add(Identity(alias_id="visitor-0", customer_id="lisa", linked_at=now))
            await session.commit()
        await asyncio.to_thread(command.upgrade, cfg, "head")

        async def filed() -> tuple[list[str], list[str], list[str], list[str]]:
            async with sessions() as session:
                return ((await session.scalars(select(Customer.id).order_by(Customer.id))).all(),
                        (await session.scalars(select(PushSubscription.customer_id))).all(),
                        (await session.scalars(select(Event.customer_id))).all(),
                        (await session.scalars(select(Identity.alias_id))).all())

        assert await filed() == (["anonymous:claimed-2", "anonymous:visitor-1", "lisa", "server-made"],
                                 ["anonymous:claimed-2"], ["anonymous:visitor-1"], ["anonymous:visitor-0"])
        await asyncio.to_thread(command.downgrade, cfg, "0017")
        assert await filed() == (["claimed-2", "lisa", "server-made", "visitor-1"], ["claimed-2"], ["visitor-1"],
                                 ["visitor-0"])
        await engine.dispose()
