"""Segments for operators: each declared segment (workflows/segments.py) and its size,
evaluated on every customer's facts as stored now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import OperatorKey, SessionsDep
from sojourn.models import Customer, utcnow
from sojourn.pipeline.facts import facts_of
from sojourn.pipeline.store import FACT_COLUMNS
from workflows.segments import SEGMENTS

router = APIRouter(tags=["operators"])
CHUNK = 2000  # customers read at a time: memory stays flat however many there are


@router.get("/v1/segments")
async def segments(_key: OperatorKey, sessions: SessionsDep) -> dict[str, Any]:
    sizes = {segment.name: 0 for segment in SEGMENTS}
    customers, after, now = 0, "", utcnow()
    async with sessions() as session:
        while True:
            rows = (await session.execute(
                select(*FACT_COLUMNS).where(Customer.id > after).order_by(Customer.id).limit(CHUNK)
            )).all()
            for row in rows:
                facts = facts_of(row)
                for segment in SEGMENTS:
                    sizes[segment.name] += segment.contains(facts, now)
            customers += len(rows)
            if len(rows) < CHUNK:
                break
            after = rows[-1].id
    return {
        "customers": customers,
        "segments": [{"name": s.name, "description": s.description, "size": sizes[s.name]} for s in SEGMENTS],
    }
