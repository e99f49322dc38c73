"""Accepting messages: store each once per messageId, keep profiles, route events.

Storing comes first and in one transaction, so an accepted message is never lost;
routing comes after, and `events.routed_at` records it. A retried request (same
messageIds) routes what a failed attempt stored but did not deliver, and does
nothing for what was delivered: one effect per messageId.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.routing import Router, journey_event
from api.segment import Message
from sojourn.db import upsert
from sojourn.models import Customer, Event, utcnow

log = logging.getLogger("sojourn.ingest")
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
        fields["timezone"] = message.context["timezone"]
    return fields


async def _upsert_customer(session: AsyncSession, message: Message) -> None:
    fields = profile_fields(message) if message.type == "identify" else {}
    traits = message.traits if message.type == "identify" else {}
    stmt = upsert(session, Customer).values(
        id=message.customer_id,
        anonymous_id=message.anonymous_id,
        traits=traits,
        created_at=utcnow(),
        updated_at=utcnow(),
        **fields,
    )
    if not traits and not fields:
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
        return
    if session.bind.dialect.name == "postgresql":
        merged = Customer.traits.op("||")(stmt.excluded.traits)
    else:
        merged = func.json_patch(Customer.traits, stmt.excluded.traits)
    changes: dict[str, Any] = {"traits": merged, "updated_at": stmt.excluded.updated_at}
    changes.update({column: getattr(stmt.excluded, column) for column in fields})
    await session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=changes))


class Ingestor:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], router: Router) -> None:
        self.sessions = sessions
        self.router = router

    def _routable(self, message: Message) -> bool:
        event = journey_event(message)
        return event is not None and self.router.wants(event)

    async def accept(self, messages: list[Message]) -> None:
        ids = [m.message_id for m in messages]
        async with self.sessions() as session:
            for message in messages:
                result = await session.execute(
                    upsert(session, Event)
                    .values(
                        message_id=message.message_id,
                        type=message.type,
                        customer_id=message.customer_id,
                        user_id=message.user_id,
                        anonymous_id=message.anonymous_id,
                        name=message.name,
                        properties=message.properties,
                        context=message.context,
                        timestamp=message.timestamp,
                        received_at=utcnow(),
                        # Messages with nothing to route are done once stored.
                        routed_at=None if self._routable(message) else utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=["message_id"])
                )
                if result.rowcount:
                    # A duplicate messageId must not re-apply its traits either.
                    await _upsert_customer(session, message)
            pending = set(
                await session.scalars(
                    select(Event.message_id).where(Event.message_id.in_(ids), Event.routed_at.is_(None))
                )
            )
            await session.commit()

        if pending:
            await self._route([m for m in messages if m.message_id in pending])

    async def _route(self, messages: list[Message]) -> None:
        seen: set[str] = set()
        to_route = []
        for message in messages:
            event = journey_event(message)
            if event and self.router.wants(event) and message.message_id not in seen:
                seen.add(message.message_id)
                to_route.append(event)
        if to_route:
            await self.router.route(to_route)
        # Done, including events no journey wants any more (so the sweeper moves on).
        async with self.sessions() as session:
            await session.execute(
                update(Event)
                .where(Event.message_id.in_([m.message_id for m in messages]), Event.routed_at.is_(None))
                .values(routed_at=utcnow())
            )
            await session.commit()

    async def reroute_pending(self, older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> int:
        """Route stored events that never reached the journeys (Temporal was down and
        the sender did not retry). Journeys de-duplicate by messageId, so an event
        routed twice by racing API replicas still counts once."""
        async with self.sessions() as session:
            rows = (await session.scalars(
                select(Event).where(Event.routed_at.is_(None), Event.received_at < utcnow() - older_than)
                .order_by(Event.id).limit(limit)
            )).all()
        messages = [
            Message(type=r.type, message_id=r.message_id, customer_id=r.customer_id, user_id=r.user_id,
                    anonymous_id=r.anonymous_id, name=r.name, properties=dict(r.properties),
                    context=dict(r.context), timestamp=r.timestamp)
            for r in rows
        ]
        if messages:
            await self._route(messages)
        return len(messages)

    async def reroute_forever(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if count := await self.reroute_pending(timedelta(seconds=every)):
                    log.info("re-routed %d stored events", count)
            except Exception as exc:  # noqa: BLE001 - keep sweeping; the next round retries
                log.warning("re-routing stored events failed: %s", exc)
