"""A run's data: what starts it (`JourneyStart`), what it carries over at
continue-as-new (`JourneyState`) and what it ends with (`JourneyResult`). Plain
dataclasses, as the data converter sends them; their field names are in every recorded
history, so a field is only ever added, with a default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sojourn.ground.contracts import Profile
from sojourn.ground.events import JourneyEvent


@dataclass
class JourneyState:
    """Everything a run hands the next one at continue-as-new."""

    entry: JourneyEvent | None = None
    entered_at: str | None = None
    events: list[JourneyEvent] = field(default_factory=list)
    first_seq: int = 0  # sequence number of events[0]; events are numbered from entry on
    seen: list[str] = field(default_factory=list)
    journal: dict[str, Any] = field(default_factory=dict)
    sends: dict[str, str] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)
    conversion: JourneyEvent | None = None
    exit_event: JourneyEvent | None = None
    ended_early: str | None = None  # why the story ended the run early (Journey.end)
    variants: dict[str, str] = field(default_factory=dict)
    runs: int = 1
    onsite: bool = False  # it left on-site messages: withdrawn when the run exits or ends
    audiences: list[str] = field(default_factory=list)  # ad audiences she is in: left when the run ends


@dataclass
class JourneyStart:
    """The workflow input. Settings that change behaviour are copied in at start, so a
    replay of this run sees what the run saw."""

    customer_id: str
    time_scale: float = 1.0
    journey_key: str | None = None
    default_timezone: str = "UTC"
    quiet_hours: str | None = None  # "21:00-08:00", customer's local time
    params: dict[str, Any] = field(default_factory=dict)
    state: JourneyState | None = None  # set by continue-as-new
    # The entry event, when the router starts the run: a plain start, one history
    # event and one RPC less than signal-with-start. Runs started with a signal
    # (older histories, tests) get it through on_event instead.
    entry: JourneyEvent | None = None
    # The changes the code that started this run makes (sojourn/ground/spec.py: the kit's
    # and the journey's own): `Journey.changed` takes them with no patch marker.
    changes: list[str] = field(default_factory=list)
    # Upsert the step and next wake-up as search attributes at every wait (settings'
    # searchable_steps): a list filter, for an action per wait.
    searchable_steps: bool = False
    # The router recorded this run's entry with the run it planned (journey_entries), so
    # the run records none of its own. Runs started otherwise (and before) record it.
    entry_recorded: bool = False
    # Her profile as the router found it when it started the run (the same read as the
    # `load_profile` activity, an action less). None: the run reads it when it needs it.
    profile: Profile | None = None


@dataclass
class JourneyResult:
    outcome: str  # completed | exited | ended_early
    exit_event: str | None = None
    converted: bool = False
    sends: dict[str, str] = field(default_factory=dict)  # step -> sent | skipped | failed | unknown
    runs: int = 1
    reason: str | None = None  # why it ended early
