"""Accepting: every message of a request stored in one transaction, or none.

The request is answered once this commits; nothing here talks to Temporal, so a
slow or unreachable Temporal never slows acceptance. The same transaction updates
what the messages change on the customer's profile, so the router never sees an
event before the profile that follows from it (customer facts join here).
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, cast, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.coupons.pools import redeem
from sojourn.ground.calls import Call
from sojourn.ground.db import dialect, insert_for, write_lock
from sojourn.ground.facts import DERIVED, Facts, apply, as_columns, facts_of
from sojourn.ground.metrics import EVENTS_ACCEPTED
from sojourn.ground.models import Customer, Event, aware, table, utcnow
from sojourn.identity.consent import record_ad_choices
from sojourn.identity.linking import resolve
from sojourn.pipeline.membership import Membership, Watch

EVENTS = table(Event)
CUSTOMERS = table(Customer)
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


async def customers_facts(session: AsyncSession, ids: list[str]) -> AsyncIterator[tuple[str, Facts]]:
    """These customers' ids and facts."""
    for row in (await session.execute(select(*FACT_COLUMNS).where(Customer.id.in_(ids)).order_by(Customer.id))).all():
        yield row.id, facts_of(row)


PROFILE_FIELDS = {"email": ("email",), "first_name": ("first_name", "firstName"), "timezone": ("timezone",)}


def profile_fields(message: Call) -> dict[str, Any]:
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
        routable: Callable[[Call], bool],
        on_stored: Callable[[], None] = lambda: None,
        watch: Watch | None = None,
        entry_window: timedelta | None = None,
    ) -> None:
        self.sessions = sessions
        self.routable = routable  # does any journey want this message?
        self.on_stored = on_stored  # wakes the router in this process
        self.watch = watch or Watch()  # the segments journeys enter or exit by
        # An event older than this when it arrives is history (Call.history); None: none is.
        self.entry_window = entry_window

    async def accept(self, messages: Sequence[Call],
                     also: Callable[[AsyncSession], Awaitable[None]] | None = None,
                     prepare: Callable[[AsyncSession], Awaitable[None]] | None = None) -> list[Call]:
        """Store each message once per messageId; return the ones that were new.

        Four statements whatever the batch: her row created or locked (with her facts
        before these messages), the events with her segments as of each, the identify
        traits (only for identifies), her facts written back. `also` writes what goes
        with the events in the same transaction (an on-site report's counts);
        `prepare` runs first in it and may fill in what the messages say from what it
        writes (a wheel's draw: the outcome is decided and told in one transaction)."""
        unique = list({m.message_id: m for m in reversed(messages)}.values())[::-1]  # first of each id wins
        now = utcnow()
        if self.entry_window is not None:
            for m in unique:
                if aware(m.timestamp) < now - self.entry_window:
                    m.history = True  # a backdated order must not mail a past buyer as if she just bought
        wanted = {m.message_id for m in unique if not m.history and self.routable(m)}
        async with write_lock(self.sessions), self.sessions() as session:
            if prepare is not None:
                await prepare(session)
            # Links an identify or alias makes, and the customer each anonymous-only
            # message belongs to (sojourn/identity/linking.py), before anything is stored under an id.
            await resolve(session, unique)
            before = await _touch(session, unique, now)
            after = Replay.of(unique, before, now, self.watch)
            inserted = set(await session.scalars(
                _insert_events(dialect(session)), self._rows(unique, wanted, after, now)))
            new = [m for m in unique if m.message_id in inserted]
            if len(new) < len(unique):
                # A retry carried a messageId already stored: it must not change her
                # facts twice, so replay only the new ones and correct their rows.
                after = Replay.of(new, before, now, self.watch)
                await self._correct(session, new, wanted, after, now)
            await _write_traits(session, new, now)
            await record_ad_choices(session, new)  # context.consent, from a proven caller
            await _write_facts(session, after)
            await redeem(session, new)  # coupons an order or an applied coupon names
            if also is not None:
                await also(session)
            await session.commit()
        for m in new:
            EVENTS_ACCEPTED.labels(m.type).inc()
        if any(not m.history and (m.message_id in wanted or m.message_id in after.moved) for m in new):
            self.on_stored()
        return new

    def _rows(self, messages: Sequence[Call], wanted: set[str], after: Replay, now: datetime) -> list[dict[str, Any]]:
        rows = []
        for m in messages:
            # What no journey wants is done once stored; an event that made her join or
            # leave a segment some journey enters or exits by is wanted too.
            routed = not m.history and (m.message_id in wanted or m.message_id in after.moved)
            membership = after.memberships.get(m.message_id)
            rows.append({
                "message_id": m.message_id, "type": m.type, "customer_id": m.customer_id, "user_id": m.user_id,
                "anonymous_id": m.anonymous_id, "name": m.name, "properties": m.properties,
                "context": m.context, "timestamp": m.timestamp, "received_at": now,
                "segments": membership.as_row() if routed and membership else None,
                "route_state": "pending" if routed else "routed",
                "routed_at": None if routed else now,
                "source": "server" if m.from_server else "browser",
            })
        return rows

    async def _correct(
        self, session: AsyncSession, new: list[Call], wanted: set[str], after: Replay, now: datetime
    ) -> None:
        rows = self._rows(new, wanted, after, now)
        if rows:
            await session.execute(
                update(EVENTS).where(EVENTS.c.message_id == bindparam("mid"))
                .values(segments=bindparam("segments"), route_state=bindparam("route_state"),
                        routed_at=bindparam("routed_at")),
                [{"mid": r["message_id"], "segments": r["segments"], "route_state": r["route_state"],
                  "routed_at": r["routed_at"]} for r in rows])


@dataclass
class Before:
    """Each customer's facts before a request's messages (None: first seen now), and
    whether a message already carried her id as its userId."""

    facts: dict[str, Facts | None]
    known: dict[str, bool]


@dataclass
class Replay:
    """Her facts after the messages, applied in arrival order, and, for the segments
    journeys watch, her membership as of each message (by message id)."""

    facts: dict[str, Facts]
    known: dict[str, bool]
    memberships: dict[str, Membership]
    moved: set[str]  # messages whose join or leave some journey enters or exits by

    @classmethod
    def of(cls, messages: Sequence[Call], before: Before, now: datetime, watch: Watch) -> Replay:
        facts = {cid: _copy(f) if f else Facts() for cid, f in before.facts.items()}
        known = dict(before.known)
        current = {cid: watch.members(f, now) if f else frozenset() for cid, f in before.facts.items()} if watch else {}
        memberships: dict[str, Membership] = {}
        for m in messages:
            apply(facts[m.customer_id], m, now)
            known[m.customer_id] = known[m.customer_id] or m.user_id == m.customer_id
            if watch:
                members = watch.members(facts[m.customer_id], now)
                memberships[m.message_id] = watch.change(current[m.customer_id], members)
                current[m.customer_id] = members
        moved = {mid for mid, change in memberships.items() if watch.moves(change)}
        return cls(facts, known, memberships, moved)


def _copy(facts: Facts) -> Facts:
    return replace(facts, last_order_products=list(facts.last_order_products),
                   recently_viewed=list(facts.recently_viewed))


async def _touch(session: AsyncSession, messages: Sequence[Call], now: datetime) -> Before:
    """Create the row of each customer seen for the first time, and lock every one
    (in a stable order, so two requests can't deadlock): one statement that also hands
    back her facts as they were. A new customer's row exists before any lock is
    taken, so two requests for her take turns too (a lock on a missing row would not
    hold). Nothing changes on an existing row until `_write_facts`."""
    kind = dialect(session)
    anonymous: dict[str, str | None] = {}
    for m in messages:
        anonymous[m.customer_id] = anonymous.get(m.customer_id) or m.anonymous_id
    rows = (await session.execute(_touch_statement(kind), [
        {"id": cid, "anonymous_id": anon, "traits": {}, "created_at": now, "updated_at": now,
         "first_seen_at": now, "last_seen_at": now} for cid, anon in sorted(anonymous.items())])).all()
    facts: dict[str, Facts | None] = {}
    for row in rows:
        found = facts_of(row)
        # PostgreSQL says whether the row was inserted; SQLite takes one writer at a
        # time, so a row whose first sight is this request's instant was made by it.
        created = row.created if kind == "postgresql" else found.first_seen_at == now
        facts[row.id] = None if created else found
    return Before(facts, {row.id: bool(row.known) for row in rows})


@functools.cache
def _touch_statement(dialect: str) -> Any:
    stmt = insert_for(dialect)(CUSTOMERS)
    created: list[Any] = [literal_column("xmax = 0").label("created")] if dialect == "postgresql" else []
    # A no-op update, not DO NOTHING: it takes the row's lock and makes RETURNING
    # hand back rows that already existed.
    return stmt.on_conflict_do_update(index_elements=["id"], set_={"id": stmt.excluded.id}).returning(
        *(CUSTOMERS.c[c.key] for c in FACT_COLUMNS), CUSTOMERS.c.known, *created)


async def _write_traits(session: AsyncSession, messages: Sequence[Call], now: datetime) -> None:
    """Merge identify traits (and the profile fields they carry) in arrival order."""
    merged: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for m in messages:
        if m.type == "identify":
            traits, fields_ = merged.get(m.customer_id, ({}, {}))
            merged[m.customer_id] = ({**traits, **m.traits}, {**fields_, **profile_fields(m)})
    for cid, (traits, fields_) in sorted(merged.items()):
        merged_traits: Any
        if dialect(session) == "postgresql":
            merged_traits = CUSTOMERS.c.traits.op("||")(cast(traits, JSONB))
        else:
            merged_traits = func.json_patch(CUSTOMERS.c.traits, json.dumps(traits))
        await session.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == cid)
                              .values(traits=merged_traits, updated_at=now, **fields_))


async def _write_facts(session: AsyncSession, after: Replay) -> None:
    """Every customer's facts after the messages (seen times and platform at least),
    in one statement executed for each."""
    # Never the derived facts: a model run may have changed them since they were read.
    written = [{"cid": cid, **{k: v for k, v in as_columns(f).items() if k not in DERIVED}, "known": after.known[cid]}
               for cid, f in sorted(after.facts.items())]
    if written:
        await session.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("cid")), written)

