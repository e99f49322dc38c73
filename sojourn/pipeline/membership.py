"""Segment membership as of each event, for the segments journeys watch.

The store evaluates it on the facts in the event's own transaction and records it on
the event row, so the router decides an `only_for` entry on the facts as of that event
(not as of routing, which may come later), and an event that makes her join or leave a
segment is routed to the journeys that enter or exit on `Joins`/`Leaves`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sojourn.ground.facts import Facts
from sojourn.ground.segments import Segment
from sojourn.ground.spec import JourneySpec


@dataclass(frozen=True)
class Membership:
    """Her watched segments after one event, and what the event changed."""

    segments: tuple[str, ...]
    joined: tuple[str, ...]
    left: tuple[str, ...]

    def as_row(self) -> dict[str, Any]:
        return {"in": list(self.segments), "joined": list(self.joined), "left": list(self.left)}


@dataclass(frozen=True)
class Watch:
    segments: tuple[Segment, ...] = ()  # evaluated on every event
    moving: frozenset[str] = frozenset()  # a join or leave of these is an event for some journey

    @classmethod
    def of(cls, specs: Sequence[JourneySpec]) -> Watch:
        found: dict[str, Segment] = {}
        for spec in specs:
            for segment in spec.segments():
                found.setdefault(segment.name, segment)
        return cls(tuple(found.values()), frozenset().union(*(s.moved_by() for s in specs)))

    def __bool__(self) -> bool:
        return bool(self.segments)

    def members(self, facts: Facts | None, now: datetime) -> frozenset[str]:
        return frozenset(s.name for s in self.segments if s.contains(facts, now))

    def change(self, before: frozenset[str], after: frozenset[str]) -> Membership:
        order = [s.name for s in self.segments]
        return Membership(
            segments=tuple(n for n in order if n in after),
            joined=tuple(n for n in order if n in after and n not in before),
            left=tuple(n for n in order if n in before and n not in after),
        )

    def moves(self, membership: Membership) -> bool:
        """Does this change route the event to a journey?"""
        return any(n in self.moving for n in (*membership.joined, *membership.left))
