"""`GET /metrics`: Prometheus's text format, for an operator key
(`authorization: {credentials: <operator key>}` in the scrape config)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select

from api.deps import OperatorKey, SessionsDep
from sojourn.ground.metrics import PIPELINE
from sojourn.ground.models import Event

router = APIRouter(tags=["operators"])


@router.get("/metrics", include_in_schema=False)
async def metrics(_key: OperatorKey, sessions: SessionsDep) -> Response:
    async with sessions() as session:
        counts = dict((await session.execute(
            select(Event.route_state, func.count()).where(Event.route_state.in_(("pending", "dead")))
            .group_by(Event.route_state))).all())
    for state in ("pending", "dead"):
        PIPELINE.labels(state).set(counts.get(state, 0))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
