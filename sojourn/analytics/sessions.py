"""Average session duration, the guide's third measure of lead capture, from the page
views Sojourn already stores.

A session is her page views with no gap of 30 minutes or more between two (as Google
Analytics and Segment's own destinations cut them); its duration runs from the first
view to the last, so a one-page session lasts 0 s. For each entry (runs not ended
early), her sessions that begin within the window after entry count; the average is
their total duration ÷ their number, for all entries, for those shown one of the
journey's on-site messages in that window against those never shown one, and per
experiment variant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.analytics.kpis import IMPRESSION, Measured, ours, owners_of
from sojourn.ground.events import JourneyEvent
from sojourn.ground.models import Event, ExperimentAssignment, aware
from sojourn.ground.spec import JourneySpec

GAP = timedelta(minutes=30)
T = TypeVar("T")


def cut(moments: Iterable[tuple[datetime, T]], gap: timedelta = GAP) -> list[list[tuple[datetime, T]]]:
    """Her moments (a time and what happened) cut into sessions, each in time order:
    a new one begins after a gap of `gap` or more. Pure."""
    found: list[list[tuple[datetime, T]]] = []
    for moment in sorted(moments, key=lambda m: m[0]):
        if found and moment[0] - found[-1][-1][0] < gap:
            found[-1].append(moment)
        else:
            found.append([moment])
    return found


def sessions(views: Iterable[datetime], gap: timedelta = GAP) -> list[tuple[datetime, datetime]]:
    """Her page views cut into sessions: (first, last) of each. Pure."""
    return [(visit[0][0], visit[-1][0]) for visit in cut(((at, None) for at in views), gap)]


def _average(durations: list[float]) -> dict[str, Any]:
    return {"sessions": len(durations),
            "average_seconds": round(sum(durations) / len(durations), 1) if durations else None}


async def report(session: AsyncSession, spec: JourneySpec, measured: Measured, window: timedelta) -> dict[str, Any]:
    entries = measured.counted()
    out: dict[str, Any] = {"window_days": window / timedelta(days=1), "gap_minutes": GAP / timedelta(minutes=1),
                           "all": _average([]), "shown": _average([]), "not_shown": _average([]), "variants": []}
    if not entries:
        return out
    owners = await owners_of(session, entries)
    since = min(e.entered_at for e in entries)
    rows = await session.execute(
        select(Event.customer_id, Event.type, Event.name, Event.properties, Event.timestamp).where(
            Event.customer_id.in_(list(owners)), Event.timestamp >= since,
            or_(Event.type.in_(("page", "screen")), Event.name == IMPRESSION)))
    views: dict[str, list[datetime]] = defaultdict(list)
    shown: dict[str, list[datetime]] = defaultdict(list)
    for customer_id, type_, name, props, at in rows:
        for original in owners.get(customer_id, ()):
            if type_ in ("page", "screen"):
                views[original].append(aware(at))
            elif ours(JourneyEvent(message_id="", type=type_, name=name or "", customer_id=customer_id,
                                   properties=props if isinstance(props, dict) else {}), spec.name):
                shown[original].append(aware(at))
    variants = dict((await session.execute(
        select(ExperimentAssignment.workflow_id, ExperimentAssignment.variant).where(
            ExperimentAssignment.journey == spec.name))).all())
    groups: dict[str, list[float]] = defaultdict(list)
    by_variant: dict[str, list[float]] = defaultdict(list)
    for entry in entries:
        end = entry.entered_at + window
        durations = [(last - first).total_seconds() for first, last in sessions(views.get(entry.customer_id, ()))
                     if entry.entered_at <= first <= end]
        saw = any(entry.entered_at <= at <= end for at in shown.get(entry.customer_id, ()))
        groups["all"] += durations
        groups["shown" if saw else "not_shown"] += durations
        if entry.workflow_id in variants:
            by_variant[variants[entry.workflow_id]] += durations
    out.update({group: _average(groups[group]) for group in ("all", "shown", "not_shown")})
    out["variants"] = [{"variant": v, **_average(d)} for v, d in sorted(by_variant.items())]
    return out
