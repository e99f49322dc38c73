"""From an accepted event to the journeys that want it.

For each registered journey: an entry event signal-with-starts the customer's
workflow under a deterministic id (`<journey>:<customer>[:<key>]`), so an entry while
a run is active is just a signal; the re-entry policy decides whether an ended run
may start again. Any other event a journey listens to is signalled to running
workflows only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, timezone

from sqlalchemy import desc, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.segment import Message
from sojourn.models import JourneyEntry
from sojourn.settings import Settings
from workflows.events import SIGNAL, JourneyEvent
from workflows.journey import Journey, JourneyStart, start_attributes
from workflows.registry import JOURNEYS
from workflows.spec import JourneySpec

log = logging.getLogger("sojourn.routing")
ROUTED_TYPES = ("track", "page", "screen")
# A keyed journey (one run per order) gets a keyless event, e.g. "Referral Sent",
# in each of the customer's recent runs.
KEYED_FANOUT = 20


class JourneysUnavailable(Exception):
    """Temporal could not be reached. The events are stored; a retry routes them."""


def journey_event(message: Message) -> JourneyEvent | None:
    if message.type not in ROUTED_TYPES:  # a track call always has its event name (validated)
        return None
    properties = dict(message.properties)
    if message.type in ("page", "screen"):
        # Segment puts the page's path in properties, and analytics.js in context.page too.
        page = message.context.get("page")
        if isinstance(page, dict):
            for field in ("path", "url", "title"):
                properties.setdefault(field, page.get(field))
    return JourneyEvent(
        message_id=message.message_id,
        type=message.type,
        name=message.name or "",
        customer_id=message.customer_id,
        properties=properties,
        timestamp=message.timestamp.isoformat(),
    )


class Router:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        journeys: tuple[type[Journey], ...] = JOURNEYS,
    ) -> None:
        self.client = client
        self.settings = settings
        self.sessions = sessions
        self.journeys = journeys

    def wants(self, event: JourneyEvent) -> bool:
        return any(j.spec.wants(event, self.settings) for j in self.journeys)

    async def route(self, events: list[JourneyEvent]) -> None:
        """Route in order per customer; customers in parallel."""
        per_customer: dict[str, list[JourneyEvent]] = defaultdict(list)
        for event in events:
            per_customer[event.customer_id].append(event)

        async def one_customer(batch: list[JourneyEvent]) -> None:
            for event in batch:
                await self.route_one(event)

        try:
            await asyncio.gather(*(one_customer(batch) for batch in per_customer.values()))
        except (RPCError, RuntimeError) as exc:  # RuntimeError: the client could not connect
            raise JourneysUnavailable(str(exc)) from exc

    async def route_one(self, event: JourneyEvent) -> None:
        for journey in self.journeys:
            spec = journey.spec
            if not spec.wants(event, self.settings):
                continue
            key = spec.key_of(event)
            if spec.enters_on(event, self.settings):
                if spec.key and key is None:
                    log.warning("%s enters on %s but %s has no %s; not entered",
                                spec.name, event.name, event.message_id, spec.key)
                    continue
                if await self._may_enter(spec, event.customer_id, key):
                    await self._signal_with_start(journey, event, key)
                    continue
                await self._signal(spec.workflow_id(event.customer_id, key), event)
            elif spec.key and key is None:
                for workflow_id in await self._recent_runs(spec, event.customer_id):
                    await self._signal(workflow_id, event)
            else:
                await self._signal(spec.workflow_id(event.customer_id, key), event)

    async def _signal_with_start(self, journey: type[Journey], event: JourneyEvent, key: str | None) -> None:
        spec = journey.spec
        settings = self.settings
        await self.client.start_workflow(
            journey.run,  # type: ignore[attr-defined]
            JourneyStart(
                customer_id=event.customer_id,
                time_scale=settings.time_scale,
                journey_key=key,
                default_timezone=settings.default_timezone,
                quiet_hours=settings.quiet_hours,
                params={name: getattr(settings, name, default) for name, default in spec.params.items()},
            ),
            id=spec.workflow_id(event.customer_id, key),
            task_queue=settings.task_queue,
            start_signal=SIGNAL,
            start_signal_args=[event],
            search_attributes=start_attributes(spec, event.customer_id),
            static_summary=f"{spec.name} for {event.customer_id}" + (f" ({spec.key} {key})" if key else ""),
        )

    async def _signal(self, workflow_id: str, event: JourneyEvent) -> None:
        try:
            await self.client.get_workflow_handle(workflow_id).signal(SIGNAL, event)
        except RPCError as exc:
            # No run of this journey is active for the customer: nothing to tell.
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    async def _may_enter(self, spec: JourneySpec, customer_id: str, key: str | None) -> bool:
        """The re-entry policy, for when no run is active (an active run is signalled
        either way: signal-with-start never starts a second one)."""
        if spec.reentry.mode == "ended":
            return True
        async with self.sessions() as session:
            last = await session.scalar(
                select(JourneyEntry.entered_at)
                .where(JourneyEntry.journey == spec.name, JourneyEntry.customer_id == customer_id,
                       JourneyEntry.journey_key == (key or ""))
                .order_by(desc(JourneyEntry.entered_at))
                .limit(1)
            )
        if last is None:
            return True
        if spec.reentry.mode == "once" or spec.reentry.cooldown is None:
            return False
        if last.tzinfo is None:  # SQLite hands back naive UTC
            last = last.replace(tzinfo=timezone.utc)
        return datetime.now(timezone.utc) - last >= spec.reentry.cooldown / self.settings.time_scale

    async def _recent_runs(self, spec: JourneySpec, customer_id: str) -> list[str]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(JourneyEntry.workflow_id)
                .where(JourneyEntry.journey == spec.name, JourneyEntry.customer_id == customer_id)
                .order_by(desc(JourneyEntry.entered_at))
                .limit(KEYED_FANOUT)
            )
            return list(dict.fromkeys(rows))
