"""The router's queue: a claim keeps each customer's events in the order received.

`test_pipeline.py` races real routers against each other; these pin the one rule the
race depends on, with the other claim's state set up by hand."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from sojourn.ground.models import Event, utcnow
from sojourn.pipeline import queue

LEASE = timedelta(seconds=30)


@pytest.fixture
async def owner(sessions: Any) -> AsyncIterator[str]:
    """This test's router. A claim takes whatever is due in the shared test database,
    so what it still leases afterwards is let go for the tests that follow."""
    me = f"test-{uuid.uuid4().hex[:8]}"
    yield me
    async with sessions() as session:
        await session.execute(update(Event).where(Event.lease_owner == me).values(lease_owner=None, lease_until=None))
        await session.commit()


async def _store(sessions: Any, customer: str, count: int) -> list[int]:
    """Her events 0..count-1, pending, in the order received; their ids."""
    now = utcnow()
    async with sessions() as session:
        ids = [await session.scalar(insert(Event).values(
            message_id=f"{customer}-{i}", type="track", customer_id=customer, name="Product Added",
            properties={}, context={}, timestamp=now, received_at=now).returning(Event.id)) for i in range(count)]
        await session.commit()
    return ids


async def _leased_by(sessions: Any, ids: list[int]) -> list[str | None]:
    async with sessions() as session:
        owners = dict((await session.execute(select(Event.id, Event.lease_owner).where(Event.id.in_(ids)))).all())
    return [owners[i] for i in ids]


async def _claim(sessions: Any, owner: str) -> dict[str, list[int]]:
    claimed = await queue.claim(sessions, owner, limit=10_000, lease=LEASE)
    return {customer: [row.id for row in rows] for customer, rows in claimed.items()}


async def test_a_claim_stops_at_her_event_another_router_holds(sessions: Any, owner: str) -> None:
    """Another router holds her 2nd event (her 1st is routed): this claim may not route
    her 3rd and 4th before it, and lets them go; someone else's events are untouched."""
    lisa, nina = f"lisa-{uuid.uuid4().hex[:8]}", f"nina-{uuid.uuid4().hex[:8]}"
    first, second, third, fourth = await _store(sessions, lisa, 4)
    others = await _store(sessions, nina, 2)
    async with sessions() as session:
        await session.execute(update(Event).where(Event.id == first).values(route_state="routed"))
        await session.execute(update(Event).where(Event.id == second)
                              .values(lease_owner="another", lease_until=utcnow() + LEASE))
        await session.commit()

    claimed = await _claim(sessions, owner)
    assert lisa not in claimed, "her 3rd and 4th wait for her 2nd"
    assert claimed[nina] == others
    assert await _leased_by(sessions, [second, third, fourth]) == ["another", None, None]


async def test_a_claim_keeps_her_events_before_a_gap_and_lets_go_of_those_after(
    sessions: Any, owner: str
) -> None:
    """Her 2nd event is held elsewhere while her 1st is still due (another claim is
    taking it, or letting it go): the 1st may go now, the 3rd waits."""
    lisa = f"lisa-{uuid.uuid4().hex[:8]}"
    first, second, third = await _store(sessions, lisa, 3)
    async with sessions() as session:
        await session.execute(update(Event).where(Event.id == second)
                              .values(lease_owner="another", lease_until=utcnow() + LEASE))
        await session.commit()

    assert (await _claim(sessions, owner))[lisa] == [first]
    assert await _leased_by(sessions, [first, second, third]) == [owner, "another", None]


async def test_a_row_another_claim_has_locked_is_a_gap_too(sessions: Any, database_url: str, owner: str) -> None:
    """The race CI met on PostgreSQL: SKIP LOCKED passes over her 6th event while
    another claim holds its row lock (it is about to let it go), so this claim finds
    her 5th and 7th. It routes the 5th, not the 7th."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite takes one writer at a time: no claim can meet another's row lock")
    lisa = f"lisa-{uuid.uuid4().hex[:8]}"
    fifth, sixth, seventh = await _store(sessions, lisa, 3)
    async with sessions() as other:
        await other.execute(select(Event.id).where(Event.id == sixth).with_for_update())
        claimed = await _claim(sessions, owner)
        await other.rollback()
    assert claimed[lisa] == [fifth]
    assert await _leased_by(sessions, [fifth, sixth, seventh]) == [owner, None, None]


async def test_a_retried_event_holds_nobody_back(sessions: Any, owner: str) -> None:
    """Her 1st event failed and waits for its retry: her later events go on."""
    lisa = f"lisa-{uuid.uuid4().hex[:8]}"
    first, second, third = await _store(sessions, lisa, 3)
    async with sessions() as session:
        await session.execute(update(Event).where(Event.id == first)
                              .values(attempts=1, next_attempt_at=utcnow() + LEASE))
        await session.commit()

    assert (await _claim(sessions, owner))[lisa] == [second, third]
