"""Her best time: the hour of the week she is most active, in her time zone.

Her activity is what she did (page views, screens, tracks, her clicks and her own
email opens; never a machine's open, never Sojourn's own bookkeeping) over six
months, counted by hour of the week in her time zone. With few events that histogram
is noise, so it is smoothed toward the shop's (everyone's activity over 30 days, each
in their own time zone, refreshed by the `sojourn-recommendations` schedule into
`activity_hours`): her hour h scores (hers[h] + ALPHA * shop_share[h]) / (n + ALPHA).
Below MIN_EVENTS of hers, the shop's hours decide alone (and the reason says so);
with nothing at all, now.

`best_moment` picks, among the hour starts from now until `within` ends, the best
scoring one outside her quiet hours; the earliest wins a tie. Pure; the activity
reads the histograms.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground import calendar
from sojourn.ground.models import ActivityHour, Customer, Event, aware, table

HOURS = 7 * 24
ALPHA = 20.0  # the shop's histogram weighs as much as 20 of her events
MIN_EVENTS = 10
HER_WINDOW = timedelta(days=182)
SHOP_WINDOW = timedelta(days=30)
SHOP_SAMPLE = 200_000  # events read for the shop's histogram, newest first
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def hour_of_week(at: datetime, tz: ZoneInfo) -> int:
    local = aware(at).astimezone(tz)
    return local.weekday() * 24 + local.hour


def _mine(name: str | None, props: Any, context: Any) -> bool:
    """Her own doing: not Sojourn's bookkeeping, not a machine's open."""
    library = context.get("library") if isinstance(context, dict) else None
    if isinstance(library, dict) and library.get("name") == "sojourn":
        return name == "Email Opened" and isinstance(props, dict) and props.get("machine") is False
    return not (name or "").startswith("Onsite Message Viewed")


async def her_hours(session: AsyncSession, customer_id: str, tz: ZoneInfo, now: datetime) -> list[int]:
    counts = [0] * HOURS
    rows = await session.execute(select(Event.name, Event.properties, Event.context, Event.timestamp).where(
        Event.customer_id == customer_id, Event.type.in_(("track", "page", "screen")),
        Event.timestamp >= now - HER_WINDOW))
    for name, props, context, at in rows:
        if _mine(name, props, context):
            counts[hour_of_week(at, tz)] += 1
    return counts


async def shop_hours(session: AsyncSession) -> list[float]:
    counts = [0.0] * HOURS
    for row in (await session.scalars(select(ActivityHour))).all():
        if 0 <= row.hour_of_week < HOURS:
            counts[row.hour_of_week] = float(row.events)
    return counts


async def refresh_shop_hours(session: AsyncSession, now: datetime, default_timezone: str) -> int:
    """Everyone's activity over 30 days by hour of the week, each in her own time zone.
    In the caller's transaction."""
    counts = [0] * HOURS
    zones: dict[str | None, Any] = {}
    rows = await session.execute(
        select(Event.name, Event.properties, Event.context, Event.timestamp, Customer.timezone)
        .join(Customer, Customer.id == Event.customer_id)
        .where(Event.type.in_(("track", "page", "screen")), Event.timestamp >= now - SHOP_WINDOW)
        .order_by(Event.id.desc()).limit(SHOP_SAMPLE))
    seen = 0
    for name, props, context, at, tz_name in rows:
        if not _mine(name, props, context):
            continue
        if tz_name not in zones:
            zones[tz_name] = calendar.zone(tz_name, default_timezone)
        counts[hour_of_week(at, zones[tz_name])] += 1
        seen += 1
    await session.execute(delete(ActivityHour))
    await session.execute(table(ActivityHour).insert(),
                          [{"hour_of_week": h, "events": c} for h, c in enumerate(counts) if c])
    return seen


def best_moment(now: datetime, within: timedelta, tz: ZoneInfo, hers: list[int], shop: list[float],
                quiet_hours: str | None = None) -> tuple[datetime, str]:
    """When to send within `within` of `now`, and why."""
    n = sum(hers)
    shop_total = sum(shop)
    if n == 0 and shop_total == 0:
        return now, "no activity to go by: now"
    share = [x / shop_total for x in shop] if shop_total else [1 / HOURS] * HOURS
    if n < MIN_EVENTS:
        score = share
    else:
        score = [(hers[h] + ALPHA * share[h]) / (n + ALPHA) for h in range(HOURS)]
    start = now.replace(minute=0, second=0, microsecond=0)
    candidates: list[datetime] = []
    step = 0
    while True:
        moment = max(start + timedelta(hours=step), now)
        if moment > now + within:
            break
        if calendar.quiet_hours_end(moment, tz, quiet_hours) is None:
            candidates.append(moment)
        step += 1
    if not candidates:
        return now, "every hour in the window is quiet: now (the send waits out quiet hours)"
    best = max(candidates, key=lambda t: (round(score[hour_of_week(t, tz)], 12), -t.timestamp()))
    h = hour_of_week(best, tz)
    slot = f"{DAYS[h // 24]} {h % 24:02d}:00"
    if n < MIN_EVENTS:
        return best, f"the shop's most active hour in the window ({slot}; too little of hers: {n} events)"
    return best, f"her most active hour in the window ({slot}; {hers[h]} of her {n} events there)"
