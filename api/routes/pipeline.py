"""Operators: the pipeline's backlog and its dead events (events that failed to
route too many times), which they can retry or discard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from api.deps import OperatorKey, RouterDep, SessionsDep
from sojourn.pipeline import queue

router = APIRouter(prefix="/v1/pipeline", tags=["operators"])


@router.get("")
async def pipeline_state(_key: OperatorKey, sessions: SessionsDep) -> dict[str, int]:
    """Events waiting to be routed, and events parked dead."""
    counts = await queue.backlog(sessions)
    return {"pending": counts.get("pending", 0), "dead": counts.get("dead", 0)}


@router.get("/dead-events")
async def dead_events(_key: OperatorKey, sessions: SessionsDep, limit: int = 100) -> list[dict[str, Any]]:
    return [
        {"id": e.id, "message_id": e.message_id, "customer_id": e.customer_id, "type": e.type, "name": e.name,
         "attempts": e.attempts, "last_error": e.last_error, "received_at": e.received_at.isoformat()}
        for e in await queue.dead_events(sessions, max(1, min(limit, 1000)))
    ]


@router.post("/dead-events/{event_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry(event_id: int, _key: OperatorKey, sessions: SessionsDep, router_: RouterDep) -> dict[str, Any]:
    if not await queue.retry_dead(sessions, event_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead event {event_id}")
    router_.notify()
    return {"id": event_id, "route_state": "pending"}


@router.delete("/dead-events/{event_id}", status_code=status.HTTP_204_NO_CONTENT)
async def discard(event_id: int, _key: OperatorKey, sessions: SessionsDep) -> None:
    if not await queue.discard_dead(sessions, event_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead event {event_id}")
