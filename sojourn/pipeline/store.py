"""Accepting: every message of a request stored in one transaction, or none.

The request is answered once this commits; nothing here talks to Temporal, so a
slow or unreachable Temporal never slows acceptance. The same transaction updates
what the messages change on the customer's profile, so the router never sees an
event before the profile that follows from it (customer facts join here).
"""

from __future__ import annotations

import functools
from dataclasses import fields
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.db import insert_for, upsert, write_lock
from sojourn.coupons import redeem
from sojourn.identity import resolve
from activities.contracts import Facts
from sojourn.models import Customer, Event, utcnow
from sojourn.pipeline.facts import apply, as_columns, changes_facts, facts_of, platform_of
from sojourn.pipeline.membership import Membership, Watch
from sojourn.pipeline.messages import Message

EVENTS = Event.__table__
CUSTOMERS = Customer.__table__
# Her id and facts: what a scan over customers for segments reads.
FACT_COLUMNS = [Customer.id, *(getattr(Customer, f.name) for f in fields(Facts))]
SCAN_CHUNK = 2000  # customers read at a time: memory stays flat however many there are


async def every_customers_facts(session: AsyncSession) -> AsyncIterator[tuple[str, Facts]]:
    """Each customer's id and facts, read in chunks in id order (segment sizes, sweeps)."""
    after = ""
    while True:
        rows = (await session.execute(
            select(*FACT_COLUMNS).where(Customer.id > after).order_by(Customer.id).limit(SCAN_CHUNK)
        )).all()
        for row in rows:
            yield row.id, facts_of(row)
        if len(rows) < SCAN_CHUNK:
            return
        after = rows[-1].id
PROFILE_FIELDS = {"email": ("email",), "first_name": ("first_name", "firstName"), "timezone": ("timezone",)}


def profile_fields(message: Message) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for column, names in PROFILE_FIELDS.items():
        for name in names:
            value = message.traits.get(name)
            if isinstance(value, str) and value:
                fields[column] = value
                break
    if "timezone" not in fields and isinstance(message.context.get("timezone"), str):
        fields["timezone"] = message.context["timezone"][:64]
    return fields


@functools.cache
def _insert_events(dialect: str) -> Any:
    """The events INSERT, built once per dialect rather than per request: building it
    took about 5% of the API's CPU per `track` call."""
    return (insert_for(dialect)(EVENTS).on_conflict_do_nothing(index_elements=["message_id"])
            .returning(EVENTS.c.message_id))


class Store:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        routable: Callable[[Message], bool],
        on_stored: Callable[[], None] = lambda: None,
        watch: Watch | None = None,
    ) -> None:
        self.sessions = sessions
        self.routable = routable  # does any journey want this message?
        self.on_stored = on_stored  # wakes the router in this process
        self.watch = watch or Watch()  # the segments journeys enter or exit by

    async def accept(self, messages: Sequence[Message]) -> list[Message]:
        """Store each message once per messageId; return the ones that were new."""
        unique = list({m.message_id: m for m in reversed(messages)}.values())[::-1]  # first of each id wins
        now = utcnow()
        wanted = {m.message_id for m in unique if self.routable(m)}
        async with write_lock(self.sessions), self.sessions() as session:
            # Links an identify or alias makes, and the customer each anonymous-only
            # message belongs to (sojourn/identity.py), before anything is stored under an id.
            await resolve(session, unique)
            rows = [
                {
                    "message_id": m.message_id, "type": m.type, "customer_id": m.customer_id, "user_id": m.user_id,
                    "anonymous_id": m.anonymous_id, "name": m.name, "properties": m.properties,
                    "context": m.context, "timestamp": m.timestamp, "received_at": now,
                    # What no journey wants is done once stored.
                    "route_state": "pending" if m.message_id in wanted else "routed",
                    "routed_at": None if m.message_id in wanted else now,
                }
                for m in unique
            ]
            # executemany with a fixed statement: compiled once and cached, unlike a
            # multi-VALUES statement whose SQL changes with the number of rows.
            inserted = set(await session.scalars(_insert_events(session.bind.dialect.name), rows))
            new = [m for m in unique if m.message_id in inserted]
            # A duplicate messageId must not re-apply its traits either.
            memberships = await update_profiles(session, new, self.watch)
            await redeem(session, new)  # coupons an order or an applied coupon names
            if memberships:
                wanted |= await self._record_memberships(session, new, wanted, memberships)
            await session.commit()
        if any(m.message_id in wanted for m in new):
            self.on_stored()
        return new

    async def _record_memberships(
        self, session: AsyncSession, new: list[Message], wanted: set[str], memberships: dict[str, Membership]
    ) -> set[str]:
        """Put her segments as of each routed event on its row; an event that made her
        join or leave a segment some journey enters or exits by is routed too.
        Returns the message ids that became routable."""
        moved = {m.message_id for m in new if m.message_id not in wanted and self.watch.moves(memberships[m.message_id])}
        rows = [{"mid": m.message_id, "segments": memberships[m.message_id].as_row()}
                for m in new if m.message_id in wanted or m.message_id in moved]
        if rows:
            await session.execute(
                update(EVENTS).where(EVENTS.c.message_id == bindparam("mid"))
                .values(segments=bindparam("segments"), route_state="pending", routed_at=None), rows)
        return moved


async def update_profiles(
    session: AsyncSession, messages: Sequence[Message], watch: Watch | None = None
) -> dict[str, Membership]:
    """Create the profile of every customer seen, and merge identify traits in
    arrival order. Per-customer facts are kept here too, in the same transaction, and,
    when journeys watch segments, her membership as of each message (by message id)."""
    if not messages:
        return {}
    now = utcnow()
    watch = watch or Watch()
    # Membership before these messages needs her facts before the upserts below.
    before = await _facts_before(session, messages, now) if watch else None
    merged: dict[str, tuple[dict[str, Any], dict[str, Any], str | None]] = {}
    for m in messages:
        traits, fields, anonymous_id = merged.get(m.customer_id, ({}, {}, None))
        if m.type == "identify":
            traits = {**traits, **m.traits}
            fields = {**fields, **profile_fields(m)}
        merged[m.customer_id] = (traits, fields, anonymous_id or m.anonymous_id)

    platforms: dict[str, str | None] = {}
    for m in messages:
        platforms[m.customer_id] = platform_of(m.context) or platforms.get(m.customer_id)
    known = {m.customer_id for m in messages if m.user_id is not None and m.user_id == m.customer_id}
    plain = [
        {"id": cid, "anonymous_id": anon, "traits": {}, "created_at": now, "updated_at": now,
         "first_seen_at": now, "last_seen_at": now, "platform": platforms.get(cid), "known": cid in known}
        for cid, (traits, fields, anon) in merged.items() if not traits and not fields
    ]
    if plain:
        await session.execute(_seen(session.bind.dialect.name), plain)
    # In a stable order, so two requests touching the same customers can't deadlock.
    for cid, (traits, fields, anon) in sorted(merged.items()):
        if not traits and not fields:
            continue
        stmt = upsert(session, Customer).values(
            id=cid, anonymous_id=anon, traits=traits, created_at=now, updated_at=now, first_seen_at=now,
            last_seen_at=now, platform=platforms.get(cid), known=cid in known, **fields
        )
        if session.bind.dialect.name == "postgresql":
            merged_traits = Customer.traits.op("||")(stmt.excluded.traits)
        else:
            merged_traits = func.json_patch(Customer.traits, stmt.excluded.traits)
        changes: dict[str, Any] = {"traits": merged_traits, "updated_at": stmt.excluded.updated_at,
                                   "last_seen_at": stmt.excluded.last_seen_at,
                                   "platform": func.coalesce(stmt.excluded.platform, Customer.platform),
                                   "known": or_(Customer.known, stmt.excluded.known)}
        changes.update({column: getattr(stmt.excluded, column) for column in fields})
        await session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=changes))
    return await update_facts(session, messages, now, watch, before)


async def _facts_before(session: AsyncSession, messages: Sequence[Message], now: datetime) -> dict[str, Facts]:
    """Her facts before these messages, her row locked. A customer seen for the first
    time gets her row here, first, so two requests for a new customer take turns too
    (a lock on a row that doesn't exist yet would not hold); she has no facts before."""
    anonymous: dict[str, str | None] = {}
    for m in messages:
        anonymous[m.customer_id] = anonymous.get(m.customer_id) or m.anonymous_id
    created = set(await session.scalars(_first_sight(session.bind.dialect.name), [
        {"id": cid, "anonymous_id": anon, "traits": {}, "created_at": now, "updated_at": now,
         "first_seen_at": now, "last_seen_at": now} for cid, anon in sorted(anonymous.items())]))
    facts = await _lock_facts(session, set(anonymous))
    return {cid: f for cid, f in facts.items() if cid not in created}


@functools.cache
def _first_sight(dialect: str) -> Any:
    return (insert_for(dialect)(CUSTOMERS).on_conflict_do_nothing(index_elements=["id"])
            .returning(CUSTOMERS.c.id))


async def _lock_facts(session: AsyncSession, ids: set[str]) -> dict[str, Facts]:
    """The facts of these customers, read in a stable order; their rows are locked on
    PostgreSQL, so two requests for one customer apply one after the other."""
    query = select(Customer).where(Customer.id.in_(sorted(ids))).order_by(Customer.id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return {c.id: facts_of(c) for c in (await session.scalars(query)).all()}


@functools.cache
def _seen(dialect: str) -> Any:
    """Create the profile of a customer seen for the first time; for one seen before,
    only when (and on what platform) she was last seen."""
    stmt = insert_for(dialect)(CUSTOMERS)
    return stmt.on_conflict_do_update(index_elements=["id"], set_={
        "last_seen_at": stmt.excluded.last_seen_at,
        "platform": func.coalesce(stmt.excluded.platform, CUSTOMERS.c.platform),
        "known": or_(CUSTOMERS.c.known, stmt.excluded.known),
    })


async def update_facts(
    session: AsyncSession, messages: Sequence[Message], now: datetime,
    watch: Watch | None = None, before: dict[str, Facts] | None = None,
) -> dict[str, Membership]:
    """Orders, products viewed, sign-up, newsletter, app: changed in arrival order
    (sojourn/pipeline/facts.py) and written back, for the customers whose messages
    change them. `before`: the facts as they were before these messages (read when
    segments are watched); otherwise they are read here."""
    watch = watch or Watch()
    changing = {m.customer_id for m in messages if changes_facts(m)}
    if not changing and not watch:
        return {}
    if before is None:
        before = await _lock_facts(session, changing)
    facts: dict[str, Facts] = dict(before)
    current = {cid: watch.members(f, now) for cid, f in facts.items()} if watch else {}
    memberships: dict[str, Membership] = {}
    for m in messages:
        if watch:
            after = watch.members(apply(facts.setdefault(m.customer_id, Facts()), m, now), now)
            memberships[m.message_id] = watch.change(current.get(m.customer_id, frozenset()), after)
            current[m.customer_id] = after
        elif m.customer_id in facts and changes_facts(m):
            apply(facts[m.customer_id], m, now)
    written = [{"cid": cid, **as_columns(facts[cid])} for cid in sorted(changing) if cid in facts]
    if written:  # one statement, executed for each customer
        await session.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("cid")), written)
    return memberships
