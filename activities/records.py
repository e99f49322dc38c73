"""Journey bookkeeping: entries, experiment assignments and conversions, each keyed so
that a retried activity writes one row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from sojourn.ground.calls import Call, anonymous_id_of
from sojourn.ground.contracts import (
    RECORD_ASSIGNMENT,
    RECORD_CONVERSION,
    RECORD_END,
    RECORD_ENTRY,
    RECORD_EVENT,
    AssignmentRecord,
    ConversionRecord,
    EndRecord,
    EntryRecord,
    EventRecord,
)
from sojourn.ground.db import upsert
from sojourn.ground.models import Conversion, ExperimentAssignment, JourneyEntry, planned_run_id
from sojourn.pipeline.membership import Watch
from sojourn.pipeline.store import Store


class RecordActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], watch: Watch | None = None) -> None:
        self.sessions = sessions
        # Events a journey records are stored as the API stores hers (facts, segments),
        # and left for the router, which polls for what another process stored.
        self.store = Store(sessions, routable=lambda _: True, watch=watch)

    @activity.defn(name=RECORD_EVENT)
    async def record_event(self, record: EventRecord) -> None:
        """Once per message id: a retry finds it stored and stores nothing."""
        await self.store.accept([Call(
            type="track", message_id=record.message_id, customer_id=record.customer_id,
            # Her kind of id: a visitor's event must not make her profile "known".
            user_id=None if anonymous_id_of(record.customer_id) else record.customer_id,
            anonymous_id=anonymous_id_of(record.customer_id), name=record.name, properties=dict(record.properties),
            timestamp=datetime.fromisoformat(record.timestamp), context={"library": {"name": "sojourn"}},
            from_server=True,
        )])

    async def _insert_once(self, table: type, unique: list[str], **values: object) -> None:
        async with self.sessions() as session:
            await session.execute(upsert(session, table).values(**values).on_conflict_do_nothing(index_elements=unique))
            await session.commit()

    @activity.defn(name=RECORD_ENTRY)
    async def record_entry(self, record: EntryRecord) -> None:
        await self._insert_once(
            JourneyEntry, ["workflow_id", "run_id"],
            journey=record.journey, customer_id=record.customer_id, journey_key=record.journey_key,
            workflow_id=record.workflow_id, run_id=record.run_id, entry_message_id=record.entry_message_id,
            entered_at=datetime.fromisoformat(record.entered_at),
        )

    @activity.defn(name=RECORD_ASSIGNMENT)
    async def record_assignment(self, record: AssignmentRecord) -> None:
        await self._insert_once(
            ExperimentAssignment, ["workflow_id", "experiment"],
            journey=record.journey, experiment=record.experiment, customer_id=record.customer_id,
            workflow_id=record.workflow_id, variant=record.variant,
            assigned_at=datetime.fromisoformat(record.assigned_at),
        )

    @activity.defn(name=RECORD_CONVERSION)
    async def record_conversion(self, record: ConversionRecord) -> None:
        await self._insert_once(
            Conversion, ["workflow_id", "event_message_id"],
            journey=record.journey, workflow_id=record.workflow_id, customer_id=record.customer_id,
            goal_event=record.goal_event, event_message_id=record.event_message_id,
            entered_at=datetime.fromisoformat(record.entered_at),
            converted_at=datetime.fromisoformat(record.converted_at),
        )

    @activity.defn(name=RECORD_END)
    async def record_end(self, record: EndRecord) -> None:
        """Mark the entry as ended early; the first mark wins, so a retry changes nothing."""
        async with self.sessions() as session:
            await session.execute(
                update(JourneyEntry)
                .where(JourneyEntry.workflow_id == record.workflow_id, JourneyEntry.ended_early_at.is_(None),
                       # Its own entry, or the one the router recorded for it (its entry event).
                       or_(JourneyEntry.run_id == record.run_id,
                           JourneyEntry.run_id == planned_run_id(record.entry_message_id or "")))
                .values(ended_early_at=datetime.fromisoformat(record.ended_at), end_reason=record.reason[:255])
            )
            await session.commit()
