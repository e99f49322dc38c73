"""Journey metadata: what a journey enters on, listens to, exits on and aims for.
The API routes events from it; `GET /v1/journeys` shows it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from sojourn.ground.events import JourneyEvent, Trigger, as_trigger
from sojourn.ground.segments import Joins, Leaves, Segment

# What operators filter by in the Temporal UI (registered by sojourn/ground/temporal.py).
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
JOURNEY_NAME = SearchAttributeKey.for_keyword("JourneyName")
JOURNEY_STEP = SearchAttributeKey.for_keyword("JourneyStep")
JOURNEY_VARIANT = SearchAttributeKey.for_keyword("JourneyVariant")
# When the run's wait ends, upserted with its step (the same command): her page reads
# every run's step and next wake-up in one visibility call.
JOURNEY_WAKE_UP = SearchAttributeKey.for_datetime("JourneyWakeUp")

Triggers = str | Trigger | tuple[str | Trigger, ...]

# The kit's own changes to what a run does, each behind `Journey.changed` (workflows/kit/journey.py):
# a run started by this code is handed them in its input and takes them without a patch
# marker; a run started before one replays its history as recorded.
KIT_CHANGES = ("ledger-gives-up", "withdraw-onsite", "searchable-steps-only", "steps-searchable-on-request",
               "conversions-from-events")


def triggers(value: Triggers) -> tuple[Trigger, ...]:
    items = value if isinstance(value, tuple) else (value,)
    return tuple(as_trigger(v) for v in items)


@dataclass(frozen=True)
class Goal:
    """A KPI: `event` within `within` of entry counts, once per entry; with `after`,
    only once an event matching it came first (an install after the banner's click:
    click-to-install); with `revenue`, the event's property holding its value (the
    stats add it up and give the average order value). A journey's `goal` is its
    conversion; `also_measures` are its other KPIs."""

    event: str
    within: timedelta
    kpi: str = "conversion rate"
    after: str | Trigger | None = None
    revenue: str | None = None
    # Only the journey's own: the event counts when its `journey` property names this
    # journey (a click on one of its emails, a tap on one of its on-site messages).
    own: bool = False
    # The denominator: every entry ("entry"), the entries it delivered a message to by
    # email, push or webhook ("delivery"), or those shown one of its on-site messages
    # ("impression"). A click-through rate is clicks per delivery or impression.
    per: str = "entry"

    def __post_init__(self) -> None:
        if self.per not in PER:
            raise ValueError(f"Goal per={self.per!r}: one of {', '.join(PER)}")

    def after_trigger(self) -> Trigger | None:
        return as_trigger(self.after) if self.after is not None else None

    def definition(self) -> str:
        """Numerator, denominator and window, as the dashboard shows them beside the number."""
        event = f"this journey's own {self.event!r}" if self.own else repr(self.event)
        after = self.after_trigger()
        first = f" after {after.describe().get('name') or 'its prerequisite'!r}" if after is not None else ""
        days = self.within.total_seconds() / 86400
        window = f"{days:g} day{'s' if days != 1 else ''}" if days >= 1 else f"{self.within.total_seconds() / 3600:g} h"
        value = (f"; value: their {self.revenue!r} added up, and its average per entry that reached it"
                 if self.revenue else "")
        return f"entries with {event}{first} within {window} of entry ÷ {PER[self.per]}{value}"

    def describe(self) -> dict[str, Any]:
        after = self.after_trigger()
        return {"event": self.event, "within_seconds": self.within.total_seconds(), "kpi": self.kpi,
                "after": after.describe() if after is not None else None, "revenue": self.revenue,
                "own": self.own, "per": self.per, "definition": self.definition()}


PER = {"entry": "entries (runs not ended early)",
       "delivery": "entries it delivered an email, push or webhook to in that window",
       "impression": "entries shown one of its on-site messages in that window"}


@dataclass(frozen=True)
class Reentry:
    """When a customer may enter again once a run has ended."""

    mode: str = "ended"  # ended | once | cooldown
    cooldown: timedelta | None = None

    @classmethod
    def whenever_ended(cls) -> Reentry:
        return cls("ended")

    @classmethod
    def once(cls) -> Reentry:
        return cls("once")

    @classmethod
    def after(cls, cooldown: timedelta) -> Reentry:
        return cls("cooldown", cooldown)

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "cooldown_seconds": self.cooldown.total_seconds() if self.cooldown else None}


@dataclass(frozen=True)
class JourneySpec:
    name: str
    entry: tuple[Trigger, ...]
    exits: tuple[Trigger, ...] = ()
    listens: tuple[Trigger, ...] = ()
    goal: Goal | None = None
    # Further KPIs the journey is judged by (the analytics issue reports them): an event
    # within a window of entry, e.g. Goal("Product Added", timedelta(days=7), kpi="add-to-cart rate").
    also_measures: tuple[Goal, ...] = ()
    key: str | None = None  # an entry property that makes one run per value, e.g. order_id
    reentry: Reentry = field(default_factory=Reentry)
    params: dict[str, Any] = field(default_factory=dict)  # name -> default; settings may override
    workflow_type: str = ""
    only_for: Segment | None = None  # admits an entry only if she is in it as of the event
    # The journey's own changes behind `self.changed(...)`: runs started from now on take them.
    changes: tuple[str, ...] = ()
    # Report her average session duration after entry, over this window (lead capture's
    # third measure: sojourn/analytics/sessions.py); None: not reported.
    sessions_within: timedelta | None = None

    def triggered_by(self, event: JourneyEvent, settings: Any = None) -> bool:
        """Is this an entry event, whoever sent it?"""
        return any(t.matches(event, settings) for t in self.entry)

    def admits(self, event: JourneyEvent) -> bool:
        """The entry condition: her segments as of the event (the store put them there)."""
        return self.only_for is None or self.only_for.name in event.segments

    def enters_on(self, event: JourneyEvent, settings: Any = None) -> bool:
        return self.triggered_by(event, settings) and self.admits(event)

    def exits_on(self, event: JourneyEvent) -> bool:
        return any(t.matches(event) for t in self.exits)

    def wants(self, event: JourneyEvent, settings: Any = None) -> bool:
        """Does a running journey of this kind need this event as a signal?"""
        return (
            self.triggered_by(event, settings)
            or self.exits_on(event)
            or any(t.matches(event) for t in self.listens)
            or (self.goal is not None and event.type == "track" and event.name == self.goal.event)
            or (self.goal is not None and (after := self.goal.after_trigger()) is not None and after.matches(event))
        )

    def segments(self) -> tuple[Segment, ...]:
        """The segments whose membership the store must record on this journey's events."""
        found = [self.only_for] if self.only_for else []
        found += [t.segment for t in (*self.entry, *self.exits, *self.listens) if isinstance(t, (Joins, Leaves))]
        return tuple(found)

    def moved_by(self) -> frozenset[str]:
        """Segments whose joining or leaving is an event for this journey."""
        return frozenset(t.segment.name for t in (*self.entry, *self.exits, *self.listens)
                         if isinstance(t, (Joins, Leaves)))

    def key_of(self, event: JourneyEvent) -> str | None:
        if self.key is None:
            return None
        value = event.properties.get(self.key)
        return None if value in (None, "") else str(value)

    def workflow_id(self, customer_id: str, key: str | None = None) -> str:
        return f"{self.name}:{customer_id}" + (f":{key}" if key is not None else "")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workflow_type": self.workflow_type,
            "entry": [t.describe() for t in self.entry],
            "exits": [t.describe() for t in self.exits],
            "listens": [t.describe() for t in self.listens],
            "goal": self.goal.describe() if self.goal else None,
            "also_measures": [g.describe() for g in self.also_measures],
            "key": self.key,
            "only_for": self.only_for.name if self.only_for else None,
            "reentry": self.reentry.describe(),
            "params": dict(self.params),
            "changes": list(self.changes),
        }


def start_attributes(spec: JourneySpec, customer_id: str) -> TypedSearchAttributes:
    """The search attributes a journey starts with (the router sets them)."""
    return TypedSearchAttributes(
        [SearchAttributePair(CUSTOMER_ID, customer_id), SearchAttributePair(JOURNEY_NAME, spec.name)]
    )


def start_input(
    spec: JourneySpec, customer_id: str, key: str | None, settings: Any, entry: JourneyEvent | None = None,
    entry_recorded: bool = False, profile: Any = None,
) -> dict[str, Any]:
    """The kit's `JourneyStart` (workflows/kit/journey.py), as the data converter sends it.
    Settings that change behaviour are copied in at start, so a replay of the run sees
    what the run saw. `entry` is the event that starts the run (a plain start);
    `changes`, every change this code makes (the kit's and the journey's), so the run
    takes them with no patch marker; `entry_recorded`, that the router wrote the run's
    entry (journey_entries) with the run it planned, so the run writes none; `profile`,
    hers as the router read it, so the run reads it with no activity of its own."""
    return {
        "customer_id": customer_id,
        "time_scale": settings.time_scale,
        "journey_key": key,
        "default_timezone": settings.default_timezone,
        "quiet_hours": settings.quiet_hours,
        "params": journey_params(spec, settings),
        "entry": entry,
        "changes": [*KIT_CHANGES, *spec.changes],
        "searchable_steps": bool(getattr(settings, "searchable_steps", False)),
        "entry_recorded": entry_recorded,
        "profile": profile,
    }


class JourneySettingsError(ValueError):
    """A journey setting that names no registered journey or declared parameter, or
    whose value is not of the parameter's type. Raised at start-up, never at a start."""


def journey_params(spec: JourneySpec, settings: Any) -> dict[str, Any]:
    """A journey's parameters as its runs get them: each declared default, overridden by
    `SOJOURN_JOURNEYS__<JOURNEY>__<PARAM>` (settings.journeys), else by the older
    setting of the parameter's own name where Settings has one (SOJOURN_REFERRAL_DELAY_DAYS)."""
    given = (getattr(settings, "journeys", None) or {}).get(spec.name, {})
    fields = getattr(type(settings), "model_fields", {})
    values = {}
    for name, default in spec.params.items():
        if name in given:
            values[name] = _as_type_of(default, given[name], spec.name, name)
        elif name in fields:
            values[name] = getattr(settings, name)
        else:
            values[name] = default
    return values


def check_journey_settings(specs: Sequence[JourneySpec], settings: Any) -> None:
    """Stop start-up on a journey setting that would be silently ignored: a journey or a
    parameter no registered journey declares, or a value of the wrong type."""
    declared = {spec.name: spec for spec in specs}
    for journey, given in (getattr(settings, "journeys", None) or {}).items():
        spec = declared.get(journey)
        if spec is None:
            raise JourneySettingsError(
                f"SOJOURN_JOURNEYS__{journey.upper()}__...: no registered journey is called {journey!r} "
                f"(registered: {', '.join(sorted(declared))})")
        if not isinstance(given, dict):
            raise JourneySettingsError(f"SOJOURN_JOURNEYS__{journey.upper()}: give one variable per parameter, "
                                       f"SOJOURN_JOURNEYS__{journey.upper()}__<PARAM>")
        for name in given:
            if name not in spec.params:
                raise JourneySettingsError(
                    f"SOJOURN_JOURNEYS__{journey.upper()}__{name.upper()}: {journey} has no parameter {name!r} "
                    f"(its parameters: {', '.join(sorted(spec.params)) or 'none'})")
        journey_params(spec, settings)  # each value converts to its parameter's type, or this raises


def _as_type_of(default: Any, value: Any, journey: str, name: str) -> Any:
    """A setting's value (text, from the environment) as the type of the parameter's default."""
    kind = type(default)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind in (int, float, str):
            return kind(text)
    except ValueError:
        pass
    else:
        return value  # a parameter of another type takes the value as given
    raise JourneySettingsError(
        f"SOJOURN_JOURNEYS__{journey.upper()}__{name.upper()}: {value!r} is not of type {kind.__name__} "
        f"(the default is {default!r})")
