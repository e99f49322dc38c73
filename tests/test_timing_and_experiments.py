"""The kit's pure parts: calendar arithmetic and A/B assignment."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time

import pytest

from sojourn.ground.calendar import EVERY_DAY, WEEKDAYS, next_local_time, parse_when, quiet_hours_end, zone
from workflows.kit.experiments import CONTROL, assign, bucket

PARIS = zone("Europe/Paris", "UTC")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_next_local_time_today_tomorrow_and_weekdays() -> None:
    # Friday 2026-11-20, 07:00 UTC = 08:00 Paris.
    assert next_local_time(utc(2026, 11, 20, 7), PARIS, time(9, 30)) == utc(2026, 11, 20, 8, 30)
    assert next_local_time(utc(2026, 11, 20, 9), PARIS, time(9, 30), EVERY_DAY) == utc(2026, 11, 21, 8, 30)
    # After Friday's 09:30, the next weekday is Monday.
    assert next_local_time(utc(2026, 11, 20, 9), PARIS, time(9, 30), WEEKDAYS) == utc(2026, 11, 23, 8, 30)
    with pytest.raises(ValueError):
        next_local_time(utc(2026, 11, 20), PARIS, time(9), frozenset())


def test_next_local_time_across_a_dst_change() -> None:
    # Paris springs forward on 2026-03-29: 09:00 local is 07:00 UTC that day, 08:00 the day before.
    assert next_local_time(utc(2026, 3, 28, 12), PARIS, time(9)) == utc(2026, 3, 29, 7)


def test_quiet_hours_across_midnight() -> None:
    window = "21:00-08:00"
    assert quiet_hours_end(utc(2026, 11, 20, 22), PARIS, window) == utc(2026, 11, 21, 7)  # 23:00 Paris
    assert quiet_hours_end(utc(2026, 11, 20, 5), PARIS, window) == utc(2026, 11, 20, 7)  # 06:00 Paris
    assert quiet_hours_end(utc(2026, 11, 20, 12), PARIS, window) is None
    assert quiet_hours_end(utc(2026, 11, 20, 12), PARIS, "12:00-14:00") == utc(2026, 11, 20, 13)
    assert quiet_hours_end(utc(2026, 11, 20, 12), PARIS, None) is None


def test_parse_when() -> None:
    assert parse_when("2026-12-24", PARIS) == utc(2026, 12, 23, 23)
    assert parse_when("2026-12-24T10:00:00Z", PARIS) == utc(2026, 12, 24, 10)
    assert parse_when(date(2026, 12, 24), zone(None, "UTC")) == utc(2026, 12, 24)
    with pytest.raises(ValueError):
        parse_when("soon", PARIS)


def test_unknown_zones_fall_back() -> None:
    assert str(zone("Mars/Olympus", "Europe/Paris")) == "Europe/Paris"
    assert str(zone(None, "nope")) == "UTC"


def test_assignment_is_stable_and_follows_the_weights() -> None:
    assert assign("lisa", "copy", {"a": 1, "b": 1}) == assign("lisa", "copy", {"a": 1, "b": 1})
    assert bucket("lisa", "copy") != bucket("lisa", "other")
    counts = Counter(assign(f"c{i}", "copy", {"a": 3, "b": 1}, holdout=0.2) for i in range(20_000))
    assert abs(counts[CONTROL] / 20_000 - 0.2) < 0.02
    assert abs(counts["a"] / 20_000 - 0.6) < 0.02 and abs(counts["b"] / 20_000 - 0.2) < 0.02


@pytest.mark.parametrize("weights, holdout", [({}, 0), ({"a": -1}, 0), ({"a": 0}, 0), ({"a": 1}, 1.0)])
def test_bad_experiments_are_refused(weights: dict[str, float], holdout: float) -> None:
    with pytest.raises(ValueError):
        assign("lisa", "x", weights, holdout)
