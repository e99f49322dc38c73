"""Conversions: a journey's goal reached inside its attribution window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.contracts import RECORD_CONVERSION, ConversionRecord
from sojourn.db import upsert
from sojourn.models import Conversion


class ConversionActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @activity.defn(name=RECORD_CONVERSION)
    async def record_conversion(self, record: ConversionRecord) -> None:
        async with self.sessions() as session:
            # Keyed by (workflow, goal event): a retried activity writes one row.
            await session.execute(
                upsert(session, Conversion)
                .values(
                    journey=record.journey,
                    workflow_id=record.workflow_id,
                    customer_id=record.customer_id,
                    goal_event=record.goal_event,
                    event_message_id=record.event_message_id,
                    entered_at=datetime.fromisoformat(record.entered_at),
                    converted_at=datetime.fromisoformat(record.converted_at),
                )
                .on_conflict_do_nothing(index_elements=["workflow_id", "event_message_id"])
            )
            await session.commit()
