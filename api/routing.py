"""From an accepted event to the journeys that want it.

For each registered journey: an entry event signal-with-starts the customer's
workflow under a deterministic id (so a second entry while it runs is just a signal);
any other event the journey listens to is signalled to a running workflow only.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from api.segment import Message
from sojourn.settings import Settings
from workflows.events import SIGNAL, JourneyEvent
from workflows.journey import CUSTOMER_ID, JOURNEY_NAME, Journey, JourneyStart
from workflows.registry import JOURNEYS

ROUTED_TYPES = ("track", "page", "screen")


class JourneysUnavailable(Exception):
    """Temporal could not be reached. The events are stored; a retry routes them."""


def journey_event(message: Message) -> JourneyEvent | None:
    if message.type not in ROUTED_TYPES or not message.name:
        return None
    return JourneyEvent(
        message_id=message.message_id,
        type=message.type,
        name=message.name,
        customer_id=message.customer_id,
        properties=message.properties,
        timestamp=message.timestamp.isoformat(),
    )


class Router:
    def __init__(self, client: Client, settings: Settings, journeys: tuple[type[Journey], ...] = JOURNEYS) -> None:
        self.client = client
        self.settings = settings
        self.journeys = journeys

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
            if not spec.wants(event):
                continue
            workflow_id = spec.workflow_id(event.customer_id)
            if spec.enters_on(event):
                await self.client.start_workflow(
                    journey.run,  # type: ignore[attr-defined]
                    JourneyStart(customer_id=event.customer_id, time_scale=self.settings.time_scale),
                    id=workflow_id,
                    task_queue=self.settings.task_queue,
                    start_signal=SIGNAL,
                    start_signal_args=[event],
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(CUSTOMER_ID, event.customer_id), SearchAttributePair(JOURNEY_NAME, spec.name)]
                    ),
                    static_summary=f"{spec.name} for {event.customer_id}",
                )
            else:
                try:
                    await self.client.get_workflow_handle(workflow_id).signal(SIGNAL, event)
                except RPCError as exc:
                    # No journey of this kind is running for the customer: nothing to stop.
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise
