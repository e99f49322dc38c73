"""One JourneyEvent per event through a routing round: the router makes it and matches
it against every journey's declarations once, and planning entries and routing both
read that (they each made their own, and matched again)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from sojourn.ground.events import JourneyEvent
from sojourn.ground.settings import Settings
from sojourn.ground.spec import JourneySpec, triggers
from sojourn.pipeline import router as routing
from sojourn.pipeline.router import Router
from tests.test_sqlite_lock import sqlite_file, store_events  # noqa: F401 - a fixture

# A journey that listens to product views but enters on something else: routing a
# view asks Temporal nothing when she is in no run.
LISTENER = JourneySpec(name="listener", entry=triggers("Signed Up"), listens=triggers("Product Viewed"),
                       workflow_type="Listener")
OTHER = JourneySpec(name="other", entry=triggers("Order Completed"), workflow_type="Other")


async def test_a_round_makes_each_event_once_and_matches_it_once(sqlite_file: Path,  # noqa: F811
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from sojourn.ground.db import make_engine, make_sessionmaker

    made: list[str] = []
    original = routing.journey_event

    def counted(message: Any) -> JourneyEvent | None:
        event = original(message)
        made.append(message.message_id)
        return event

    matched: list[tuple[str, str]] = []
    wants, enters_on = JourneySpec.wants, JourneySpec.enters_on

    def counted_wants(self: JourneySpec, event: JourneyEvent, settings: Any = None) -> bool:
        matched.append((self.name, event.message_id))
        return wants(self, event, settings)

    def counted_enters_on(self: JourneySpec, event: JourneyEvent, settings: Any = None) -> bool:
        matched.append((self.name, event.message_id))
        return enters_on(self, event, settings)

    monkeypatch.setattr(routing, "journey_event", counted)
    monkeypatch.setattr(JourneySpec, "wants", counted_wants)
    monkeypatch.setattr(JourneySpec, "enters_on", counted_enters_on)
    engine = make_engine(f"sqlite+aiosqlite:///{sqlite_file}")
    try:
        sessions = make_sessionmaker(engine)
        await store_events(sessions, 30)
        router = Router(None, Settings(router_batch=500), sessions, [LISTENER, OTHER])
        owner = f"once-{uuid.uuid4().hex[:8]}"
        claimed = 0
        while (n := await router.route_once(owner)):
            claimed += n
        assert claimed >= 30
        assert len(made) == claimed and len(set(made)) == claimed, "an event was made more than once a round"
        # Each journey is asked once whether it wants the view, and the one that does once
        # whether it enters (planning and routing used to ask again: five questions).
        assert len(matched) == 3 * claimed, "a declaration was asked about an event more than once"
    finally:
        await engine.dispose()

