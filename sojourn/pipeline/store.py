"""Accepting: every message of a request stored in one transaction, or none.

The request is answered once this commits; nothing here talks to Temporal, so a
slow or unreachable Temporal never slows acceptance. The same transaction updates
what the messages change on the customer's profile, so the router never sees an
event before the profile that follows from it (customer facts join here).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.db import insert_for, upsert, write_lock
from sojourn.models import Customer, Event, utcnow
from sojourn.pipeline.facts import apply, as_columns, changes_facts, facts_of, platform_of
from sojourn.pipeline.messages import Message

EVENTS = Event.__table__
CUSTOMERS = Customer.__table__
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
    ) -> None:
        self.sessions = sessions
        self.routable = routable  # does any journey want this message?
        self.on_stored = on_stored  # wakes the router in this process

    async def accept(self, messages: Sequence[Message]) -> list[Message]:
        """Store each message once per messageId; return the ones that were new."""
        unique = list({m.message_id: m for m in reversed(messages)}.values())[::-1]  # first of each id wins
        now = utcnow()
        wanted = {m.message_id for m in unique if self.routable(m)}
        async with write_lock(self.sessions), self.sessions() as session:
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
            await update_profiles(session, new)
            await session.commit()
        if any(m.message_id in wanted for m in new):
            self.on_stored()
        return new


async def update_profiles(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Create the profile of every customer seen, and merge identify traits in
    arrival order. Per-customer facts are kept here too, in the same transaction."""
    if not messages:
        return
    now = utcnow()
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
    plain = [
        {"id": cid, "anonymous_id": anon, "traits": {}, "created_at": now, "updated_at": now,
         "first_seen_at": now, "last_seen_at": now, "platform": platforms.get(cid)}
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
            last_seen_at=now, platform=platforms.get(cid), **fields
        )
        if session.bind.dialect.name == "postgresql":
            merged_traits = Customer.traits.op("||")(stmt.excluded.traits)
        else:
            merged_traits = func.json_patch(Customer.traits, stmt.excluded.traits)
        changes: dict[str, Any] = {"traits": merged_traits, "updated_at": stmt.excluded.updated_at,
                                   "last_seen_at": stmt.excluded.last_seen_at,
                                   "platform": func.coalesce(stmt.excluded.platform, Customer.platform)}
        changes.update({column: getattr(stmt.excluded, column) for column in fields})
        await session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=changes))
    await update_facts(session, messages, now)


@functools.cache
def _seen(dialect: str) -> Any:
    """Create the profile of a customer seen for the first time; for one seen before,
    only when (and on what platform) she was last seen."""
    stmt = insert_for(dialect)(CUSTOMERS)
    return stmt.on_conflict_do_update(index_elements=["id"], set_={
        "last_seen_at": stmt.excluded.last_seen_at,
        "platform": func.coalesce(stmt.excluded.platform, CUSTOMERS.c.platform),
    })


async def update_facts(session: AsyncSession, messages: Sequence[Message], now: datetime) -> None:
    """Orders, products viewed, sign-up, newsletter, app: read, changed in arrival order
    (sojourn/pipeline/facts.py) and written back, for the customers whose messages
    change them. Their rows are locked first on PostgreSQL, so two requests for one
    customer apply one after the other."""
    changing = [m for m in messages if changes_facts(m)]
    if not changing:
        return
    ids = sorted({m.customer_id for m in changing})
    query = select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = {c.id: c for c in (await session.scalars(query)).all()}
    facts = {cid: facts_of(row) for cid, row in rows.items()}
    for m in changing:
        if m.customer_id in facts:
            apply(facts[m.customer_id], m, now)
    if facts:  # one statement, executed for each customer
        await session.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("cid")),
                              [{"cid": cid, **as_columns(changed)} for cid, changed in facts.items()])
