"""The behaviour event as a journey sees it (the signal payload), and how journeys
match events: by name and type, property values, and optional predicates."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

SIGNAL = "event"


@dataclass
class JourneyEvent:
    message_id: str
    type: str  # track | page | screen
    name: str  # the track event's name, or the page's name
    customer_id: str
    properties: dict[str, Any] = field(default_factory=dict)
    timestamp: str = ""  # ISO-8601, as the sender stamped it
    # Her membership of the segments journeys watch, as of this event (the store
    # evaluates it on the facts in the event's own transaction), and the ones this
    # event made her join or leave. Empty where no journey watches a segment.
    segments: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    # The device the event came from, as the router read its context: "mobile",
    # "desktop", or "" when the sender didn't say (a server's call).
    device: str = ""

    # Typed reads that never raise: journey code runs on whatever senders sent, and a
    # story that raised on odd data would stop the customer's journey. The API checks
    # the e-commerce spec's types, but older events, other senders and hand-made
    # tests reach journeys too.

    def integer(self, name: str, default: int = 0, *, minimum: int | None = None) -> int:
        """A whole-number property: 2, 2.0 and "2" read as 2; anything else, or a value
        below `minimum`, as `default`."""
        value = _number(self.properties.get(name))
        if value is None or not value.is_integer() or (minimum is not None and value < minimum):
            return default
        return int(value)

    def number(self, name: str, default: float = 0.0) -> float:
        """A finite number property ("24.5" reads as 24.5), else `default`."""
        value = _number(self.properties.get(name))
        return default if value is None else value

    def text(self, name: str, default: str = "") -> str:
        """A property as text: strings as they are, numbers written out, else `default`."""
        value = self.properties.get(name)
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and _number(value) is not None:
            try:
                return str(value)
            except ValueError:  # an int past Python's 4300-digit str() limit
                return default
        return default


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)):
        try:
            value = float(value)
        except OverflowError:  # an int too big for a float
            return None
        return value if math.isfinite(value) else None
    return None


Predicate = Callable[[JourneyEvent], bool]


@dataclass(frozen=True)
class Setting:
    """A property value taken from Sojourn's settings when the API routes, e.g. the
    loyalty page's path. Settings are read by the API only, never by workflow code."""

    name: str


def _resolved(value: Any, settings: Any) -> tuple[bool, Any]:
    """(known, value): a Setting's value from settings; unknown inside a workflow, where
    the API already checked it when it routed."""
    if isinstance(value, Setting):
        return (False, None) if settings is None else (True, getattr(settings, value.name))
    return True, value


def _same(actual: Any, value: Any) -> bool:
    """Equal, without True standing for 1 (or 1 for True)."""
    if isinstance(actual, bool) or isinstance(value, bool):
        return actual is value
    return bool(actual == value)


def _show(value: Any) -> Any:
    return f"<setting {value.name}>" if isinstance(value, Setting) else value


@dataclass(frozen=True)
class Prefix:
    """A text property that starts with this (or a Setting's value): `Prefix("/loyalty")`."""

    value: Any

    def test(self, actual: Any, settings: Any) -> bool | None:
        known, value = _resolved(self.value, settings)
        if not known:
            return None
        return isinstance(actual, str) and isinstance(value, str) and actual.startswith(value)

    def describe(self) -> dict[str, Any]:
        return {"prefix": _show(self.value)}


@dataclass(frozen=True)
class Contains:
    """A text property holding this text, or a list property holding this item."""

    value: Any

    def test(self, actual: Any, settings: Any) -> bool | None:
        known, value = _resolved(self.value, settings)
        if not known:
            return None
        if isinstance(actual, str):
            return isinstance(value, str) and value in actual
        return isinstance(actual, list) and value in actual

    def describe(self) -> dict[str, Any]:
        return {"contains": _show(self.value)}


@dataclass(frozen=True)
class OneOf:
    """A property equal to any of these values (each may be a Setting; a Setting holding
    a list counts as its items): `OneOf("/register", Setting("registration_path"))`."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", tuple(values))

    def test(self, actual: Any, settings: Any) -> bool | None:
        allowed: list[Any] = []
        for item in self.values:
            known, value = _resolved(item, settings)
            if not known:
                return None
            allowed.extend(value if isinstance(value, (list, tuple)) else [value])
        return any(_same(actual, v) for v in allowed)

    def describe(self) -> dict[str, Any]:
        return {"one_of": [_show(v) for v in self.values]}


MATCHERS = (Prefix, Contains, OneOf)


@dataclass(frozen=True)
class On:
    """Matches events by name (None: any name) and type, with property values that must
    match (equal, a Setting's value, or Prefix / Contains / OneOf) and an optional
    predicate."""

    name: str | None = None
    type: str = "track"
    props: Mapping[str, Any] = field(default_factory=dict)
    where: Predicate | None = None

    def matches(self, event: JourneyEvent, settings: Any = None) -> bool:
        if (self.name is not None and event.name != self.name) or event.type != self.type:
            return False
        for key, expected in self.props.items():
            if isinstance(expected, MATCHERS):
                if expected.test(event.properties.get(key), settings) is False:  # None: checked by the API
                    return False
                continue
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
            "properties": {k: (v.describe() if isinstance(v, MATCHERS) else _show(v)) for k, v in self.props.items()},
            "predicate": self.where is not None,
        }


class Trigger(Protocol):
    """What entries, exits and listens are made of: `On`, or a segment's `Joins` and
    `Leaves` (workflows/segments.py)."""

    def matches(self, event: JourneyEvent, settings: Any = None) -> bool: ...

    def describe(self) -> dict[str, Any]: ...


def as_trigger(value: str | Trigger) -> Trigger:
    return On(value) if isinstance(value, str) else value


def holds(test: Callable[[], Any]) -> bool:
    """A journey's own predicate on an event. One that raises on odd data does not
    match, rather than failing every workflow task that meets the event (a signal
    handler or a wait condition that raises would). The engine's own errors, e.g. the
    sandbox refusing a clock read, still go up."""
    try:
        return bool(test())
    except Exception as error:  # noqa: BLE001 - see above
        if type(error).__module__.startswith("temporalio"):
            raise
        return False
