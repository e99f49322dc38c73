"""The behaviour event as a journey sees it: the signal payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

SIGNAL = "event"


@dataclass
class JourneyEvent:
    message_id: str
    type: str  # track | page | screen
    name: str  # the track event's name, or the page's name
    customer_id: str
    properties: dict[str, Any] = field(default_factory=dict)
    timestamp: str = ""  # ISO-8601, as the sender stamped it


Predicate = Callable[[JourneyEvent], bool]


@dataclass(frozen=True)
class On:
    """Matches an event by name (and type), optionally with a predicate on it."""

    name: str
    type: str = "track"
    where: Predicate | None = None

    def matches(self, event: JourneyEvent) -> bool:
        return (
            event.name == self.name
            and event.type == self.type
            and (self.where is None or self.where(event))
        )


def as_trigger(value: str | On) -> On:
    return value if isinstance(value, On) else On(value)
