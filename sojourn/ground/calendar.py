"""Calendar arithmetic for journeys: local times of day, quiet hours, dates.

Pure functions of their arguments. Workflow code imports this module through
`imports_passed_through()`, because the sandbox's proxy of `zoneinfo` is not a real
tzinfo; the results are deterministic all the same (same tz database, same inputs).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = frozenset({0, 1, 2, 3, 4})  # Monday..Friday, as datetime.weekday()
EVERY_DAY = frozenset(range(7))


def zone(name: str | None, default: str) -> ZoneInfo:
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def next_local_time(now: datetime, tz: ZoneInfo, at: time, weekdays: frozenset[int] = EVERY_DAY) -> datetime:
    """The first moment at or after `now` whose local wall time is `at` on an allowed weekday (UTC)."""
    if not weekdays:
        raise ValueError("weekdays must allow at least one day")
    local = now.astimezone(tz)
    for days in range(8):
        day = local.date() + timedelta(days=days)
        candidate = datetime.combine(day, at, tzinfo=tz)
        # A wall time skipped by a DST jump resolves forward through UTC.
        candidate = candidate.astimezone(UTC)
        if candidate >= now and day.weekday() in weekdays:
            return candidate
    raise AssertionError("unreachable: a week always has an allowed day")


def parse_window(spec: str) -> tuple[time, time]:
    """"21:00-08:00" -> (21:00, 08:00)."""
    start, _, end = spec.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def quiet_hours_end(now: datetime, tz: ZoneInfo, window: str | None) -> datetime | None:
    """If `now` falls in the quiet window (local time), when it opens again (UTC); else None."""
    if not window:
        return None
    start, end = parse_window(window)
    local = now.astimezone(tz).time().replace(tzinfo=None)
    quiet = (start <= local < end) if start <= end else (local >= start or local < end)
    return next_local_time(now, tz, end) if quiet else None


def parse_when(value: str | date | datetime, tz: ZoneInfo) -> datetime:
    """A date or datetime from a property: dates mean local midnight; naive times are local."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        text = str(value).strip().replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text) if "T" in text or " " in text else datetime.combine(date.fromisoformat(text), time())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)
