"""The behaviour event as a journey sees it (the signal payload), and how journeys
match events: by name and type, property values, and optional predicates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

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
class Setting:
    """A property value taken from Sojourn's settings when the API routes, e.g. the
    loyalty page's path. Settings are read by the API only, never by workflow code."""

    name: str


@dataclass(frozen=True)
class On:
    """Matches events by name (None: any name) and type, with property values that must
    be equal and an optional predicate."""

    name: str | None = None
    type: str = "track"
    props: Mapping[str, Any] = field(default_factory=dict)
    where: Predicate | None = None

    def matches(self, event: JourneyEvent, settings: Any = None) -> bool:
        if (self.name is not None and event.name != self.name) or event.type != self.type:
            return False
        for key, expected in self.props.items():
            if isinstance(expected, Setting):
                if settings is None:  # inside a workflow: the API already checked it
                    continue
                expected = getattr(settings, expected.name)
            if event.properties.get(key) != expected:
                return False
        return self.where is None or self.where(event)

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "properties": {k: (f"<setting {v.name}>" if isinstance(v, Setting) else v) for k, v in self.props.items()},
            "predicate": self.where is not None,
        }


def as_trigger(value: str | On) -> On:
    return value if isinstance(value, On) else On(value)
