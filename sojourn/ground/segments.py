"""Segment predicates: a name and a test over a customer's facts (sojourn/ground/facts.py),
and the triggers that fire when she joins or leaves one. Pure, so the pipeline, the
API, analytics and journey code can all evaluate them. The shop's segments are declared
with these in workflows/segments.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sojourn.ground.events import JourneyEvent, holds
from sojourn.ground.facts import Facts


@dataclass(frozen=True)
class Segment:
    name: str
    test: Callable[..., bool]  # (facts) -> bool; a timed segment's: (facts, now) -> bool
    description: str = ""
    timed: bool = False

    def contains(self, facts: Facts | None, now: datetime | None = None) -> bool:
        """Membership; a predicate that raises on odd facts means "not in it", and so do
        no facts at all (a customer not seen yet) and a timed segment asked without a time."""
        if facts is None:
            return False
        if self.timed:
            return now is not None and holds(lambda: self.test(facts, now))
        return holds(lambda: self.test(facts))


@dataclass(frozen=True)
class Joins:
    """Triggers on the event that made her join the segment."""

    segment: Segment

    def matches(self, event: JourneyEvent, settings: Any = None) -> bool:
        return self.segment.name in event.joined

    def describe(self) -> dict[str, Any]:
        return {"joins": self.segment.name}


@dataclass(frozen=True)
class Leaves:
    """Triggers on the event that made her leave the segment."""

    segment: Segment

    def matches(self, event: JourneyEvent, settings: Any = None) -> bool:
        return self.segment.name in event.left

    def describe(self) -> dict[str, Any]:
        return {"leaves": self.segment.name}
