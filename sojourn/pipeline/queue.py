"""The events table as the router's queue: claim, guard the per-customer order, and
settle each event as routed, retried later, or dead.

A router claims a batch of due events by leasing them (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so replicas take disjoint batches; SQLite's write lock does the same
there). A claim keeps a customer's events only up to her first unrouted event it does
not hold, so one customer's events reach the journeys in the order received,
whichever replica routes them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.ground.db import rowcount, runs_to_the_end, write_lock
from sojourn.ground.metrics import EVENTS_ROUTED
from sojourn.ground.models import Event, table, utcnow

EVENTS = table(Event)
ERROR_LIMIT = 2000  # characters of an error kept on a dead event


@dataclass
class Failure:
    event_id: int
    attempts: int  # after this one
    error: str


@runs_to_the_end
async def claim(
    sessions: async_sessionmaker[AsyncSession], owner: str, *, limit: int, lease: timedelta
) -> dict[str, list[Any]]:
    """Lease up to `limit` due events; return their rows per customer, oldest first, each
    customer's cut at her first unrouted event held elsewhere (the rest released). A
    cancelled caller's claim still commits; its leases just expire."""
    now = utcnow()
    due = (
        select(Event.id)
        .where(
            Event.route_state == "pending",
            or_(Event.next_attempt_at.is_(None), Event.next_attempt_at <= now),
            or_(Event.lease_until.is_(None), Event.lease_until < now),
        )
        .order_by(Event.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    async with write_lock(sessions), sessions() as session:
        rows = sorted((await session.execute(
            update(EVENTS).where(EVENTS.c.id.in_(due)).values(lease_owner=owner, lease_until=now + lease)
            .returning(*EVENTS.c)
        )).all(), key=lambda r: r.id)
        if not rows:
            await session.commit()
            return {}
        ids = [row.id for row in rows]
        per_customer: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            per_customer[row.customer_id].append(row)
        # Each customer's first never-tried event that this claim does not hold: another
        # router has it, or is taking it. It may come before her events here, or between
        # them: SKIP LOCKED passes over a row another claim has locked, so a claim can
        # hold her 5th and 7th events while another holds the 6th (and is releasing it).
        # Only her events before it may go now. A retried (poison) event does not hold
        # the others back.
        gaps = dict((await session.execute(
            select(Event.customer_id, func.min(Event.id))
            .where(Event.customer_id.in_(list(per_customer)), Event.route_state == "pending",
                   Event.attempts == 0, Event.id.not_in(ids))
            .group_by(Event.customer_id)
        )).all())
        waiting: list[int] = []
        for customer, gap in gaps.items():
            held = per_customer[customer]
            waiting += [e.id for e in held if e.id > gap]
            if held[0].id > gap:
                del per_customer[customer]
            else:
                per_customer[customer] = [e for e in held if e.id < gap]
        if waiting:
            await session.execute(
                update(EVENTS).where(EVENTS.c.id.in_(waiting)).values(lease_owner=None, lease_until=None)
            )
        await session.commit()
    return dict(per_customer)


@runs_to_the_end
async def settle(
    sessions: async_sessionmaker[AsyncSession],
    owner: str,
    *,
    routed: list[int],
    failed: list[Failure],
    released: list[int],
    max_attempts: int,
    retry_base: timedelta,
) -> None:
    """Record a round's outcome. Only rows this router still leases are touched. It
    commits even if the caller is cancelled meanwhile."""
    now = utcnow()
    mine = EVENTS.c.lease_owner == owner
    async with write_lock(sessions), sessions() as session:
        if routed:
            await session.execute(
                update(EVENTS).where(EVENTS.c.id.in_(routed), mine)
                .values(route_state="routed", routed_at=now, lease_owner=None, lease_until=None)
            )
        for failure in failed:
            gives_up = failure.attempts >= max_attempts
            await session.execute(
                update(EVENTS).where(EVENTS.c.id == failure.event_id, mine).values(
                    route_state="dead" if gives_up else "pending",
                    attempts=failure.attempts,
                    last_error=failure.error[:ERROR_LIMIT],
                    next_attempt_at=None if gives_up else now + retry_base * 4 ** (failure.attempts - 1),
                    lease_owner=None,
                    lease_until=None,
                )
            )
        if released:
            await session.execute(
                update(EVENTS).where(EVENTS.c.id.in_(released), mine).values(lease_owner=None, lease_until=None)
            )
        await session.commit()
    if routed:
        EVENTS_ROUTED.labels("routed").inc(len(routed))
    dead = sum(1 for f in failed if f.attempts >= max_attempts)
    if dead:
        EVENTS_ROUTED.labels("dead").inc(dead)
    if len(failed) > dead:
        EVENTS_ROUTED.labels("retry").inc(len(failed) - dead)


# ----- dead events, for operators -----

async def dead_events(sessions: async_sessionmaker[AsyncSession], limit: int = 100) -> list[Event]:
    async with sessions() as session:
        return list((await session.scalars(
            select(Event).where(Event.route_state == "dead").order_by(Event.id).limit(limit)
        )).all())


async def retry_dead(sessions: async_sessionmaker[AsyncSession], event_id: int) -> bool:
    """Put a dead event back in the queue with fresh attempts."""
    async with sessions() as session:
        result = await session.execute(
            update(EVENTS).where(EVENTS.c.id == event_id, EVENTS.c.route_state == "dead")
            .values(route_state="pending", attempts=0, next_attempt_at=None, lease_owner=None, lease_until=None)
        )
        await session.commit()
        return bool(rowcount(result))


async def discard_dead(sessions: async_sessionmaker[AsyncSession], event_id: int) -> bool:
    async with sessions() as session:
        result = await session.execute(
            update(EVENTS).where(EVENTS.c.id == event_id, EVENTS.c.route_state == "dead")
            .values(route_state="discarded")
        )
        await session.commit()
        return bool(rowcount(result))


async def backlog(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Events by route state that still need attention."""
    async with sessions() as session:
        rows = await session.execute(
            select(Event.route_state, func.count()).where(Event.route_state.in_(("pending", "dead")))
            .group_by(Event.route_state)
        )
        return {state: count for state, count in rows.all()}

