"""The shop's own funnel for operators and the dashboard (sojourn/analytics/shop_funnel.py):
visits → product views → cart → checkout → order, per day and per segment."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, status

from api.deps import MarketerKey, SessionsDep
from sojourn.analytics import shop_funnel
from sojourn.ground.models import utcnow
from workflows.segments import SEGMENTS

router = APIRouter(tags=["operators"])
DEFAULT_DAYS = 30
MAX_DAYS = 366


def window(since: date | None, until: date | None) -> tuple[datetime, datetime]:
    """[since, until], whole UTC days; by default the last 30 days, today included."""
    end = until or utcnow().date()
    if end >= date.max:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "until: before 9999-12-31")
    start = since or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "since: after until")
    if (end - start).days >= MAX_DAYS:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"since: at most {MAX_DAYS} days before until")
    return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)


async def funnel_of(sessions: Any, since: date | None = None, until: date | None = None) -> dict[str, Any]:
    start, end = window(since, until)
    async with sessions() as session:
        return await shop_funnel.report(session, start, end, SEGMENTS)


@router.get("/v1/funnel")
async def shop_funnel_report(_key: MarketerKey, sessions: SessionsDep, since: date | None = None,
                             until: date | None = None) -> dict[str, Any]:
    """Per day (the day a visit began) and per segment (who is in it now), with the
    guide's 3.08% benchmark."""
    return await funnel_of(sessions, since, until)
