"""Segments for operators: each declared segment (workflows/segments.py) and its size,
evaluated on every customer's facts as stored now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import OperatorKey, SessionsDep
from sojourn.ground.models import utcnow
from sojourn.pipeline.store import every_customers_facts
from workflows.segments import SEGMENTS

router = APIRouter(tags=["operators"])


@router.get("/v1/segments")
async def segments(_key: OperatorKey, sessions: SessionsDep) -> dict[str, Any]:
    sizes = {segment.name: 0 for segment in SEGMENTS}
    customers, now = 0, utcnow()
    async with sessions() as session:
        async for _, facts in every_customers_facts(session):
            customers += 1
            for segment in SEGMENTS:
                sizes[segment.name] += segment.contains(facts, now)
    return {
        "customers": customers,
        "segments": [{"name": s.name, "description": s.description, "size": sizes[s.name]} for s in SEGMENTS],
    }
