"""Timed segments, swept: who joined or left a segment that changes as time passes
("no order in 60 days") since the last sweep. A Temporal Schedule runs the sweep
(workflows/upkeep/segment_sweep.py); an event changes such a segment too, and the store
records that on the event, like any other segment.

A customer whose facts put her on the other side of the segment's line between the
last sweep and this one gets an "Audience Entered" or "Audience Exited" event (as
Segment's Engage names them), stored with her membership like any event, so journeys
that enter or exit on `Joins`/`Leaves` get it through the router. The events' ids are
derived from the segment, the customer and the sweep's time: a retried sweep stores
nothing twice. The first sweep of a segment only marks where sweeping starts:
customers already in it when a journey first watches it do not "join".
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from sojourn.ground.contracts import SWEEP_SEGMENTS, SweepRequest, SweepResult
from sojourn.ground.db import dialect, insert_for, write_lock
from sojourn.ground.models import Event, SegmentSweep, table, utcnow
from sojourn.ground.segments import Segment
from sojourn.pipeline.membership import Watch
from sojourn.pipeline.store import every_customers_facts

log = logging.getLogger("sojourn.segments")


class SegmentActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], watch: Watch) -> None:
        self.sessions = sessions
        self.watch = watch

    @activity.defn(name=SWEEP_SEGMENTS)
    async def sweep_segments(self, request: SweepRequest) -> SweepResult:
        as_of = datetime.fromisoformat(request.as_of).astimezone(UTC)
        result = SweepResult()
        for segment in (s for s in self.watch.segments if s.timed):
            result.joined[segment.name] = result.left[segment.name] = 0
            async with write_lock(self.sessions), self.sessions() as session:
                row = await session.get(SegmentSweep, segment.name, with_for_update=True)
                if row is None:
                    session.add(SegmentSweep(segment=segment.name, swept_until=as_of))
                    await session.commit()
                    continue
                since = row.swept_until if row.swept_until.tzinfo else row.swept_until.replace(tzinfo=UTC)
                if as_of <= since:
                    continue  # a sweep for this time (or a later one) already ran
                moves, read = await self._moves(session, segment, since, as_of)
                result.customers = max(result.customers, read)
                if moves:
                    await session.execute(insert_for(dialect(session))(table(Event))
                                          .on_conflict_do_nothing(index_elements=["message_id"]), moves)
                row.swept_until = as_of
                await session.commit()
            for move in moves:
                (result.joined if move["name"] == "Audience Entered" else result.left)[segment.name] += 1
            log.info("segment %s swept to %s: %d joined, %d left", segment.name, as_of.isoformat(),
                     result.joined[segment.name], result.left[segment.name])
        return result

    async def _moves(self, session: AsyncSession, segment: Segment, since: datetime,
                     as_of: datetime) -> tuple[list[dict[str, Any]], int]:
        moves, read, now = [], 0, utcnow()
        async for customer_id, facts in every_customers_facts(session):
            read += 1
            was, now_in = segment.contains(facts, since), segment.contains(facts, as_of)
            if was == now_in:
                continue
            activity.heartbeat(customer_id)
            moves.append(move(segment.name, customer_id, now_in, as_of, as_of.isoformat(),
                              sorted(self.watch.members(facts, as_of)), now))
        return moves, read


def move(segment: str, customer_id: str, joined: bool, at: datetime, why: str, members: list[str],
         received: datetime) -> dict[str, Any]:
    """The event of her joining or leaving `segment` (as Segment's Engage names them), its
    id derived from `why` (the sweep's time, the model run): stored twice, it is once."""
    return {
        "message_id": f"segment:{segment}:{customer_id}:{why}"[:255],
        "type": "track", "customer_id": customer_id, "user_id": None, "anonymous_id": None,
        "name": "Audience Entered" if joined else "Audience Exited",
        "properties": {"audience_key": segment}, "context": {"library": {"name": "sojourn"}},
        "timestamp": at, "received_at": received, "route_state": "pending",
        "segments": {"in": members, "joined": [segment] if joined else [], "left": [] if joined else [segment]},
    }
