"""Lead capture's third measure, average session duration, from stored page views:
for shoppers shown the wheel against those never shown it, and per variant. A
scripted population whose answer is worked out by hand."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sojourn.analytics import kpis
from sojourn.analytics import sessions as sessions_module
from sojourn.ground.models import Event, ExperimentAssignment, JourneyEntry, utcnow
from tests.conftest import Api
from workflows.journeys.lead_capture import LeadCapture

M = timedelta(minutes=1)


def test_sessions_are_cut_at_thirty_minutes() -> None:
    t = datetime(2026, 12, 1, 10)
    assert sessions_module.sessions([t + 12 * M, t, t + 5 * M, t + 42 * M, t + 71 * M]) == [
        (t, t + 12 * M), (t + 42 * M, t + 71 * M)]
    assert sessions_module.sessions([t, t + 30 * M]) == [(t, t), (t + 30 * M, t + 30 * M)], "a gap of 30 minutes cuts"
    assert sessions_module.sessions([]) == []


async def test_average_session_duration_shown_the_wheel_or_not_and_per_variant(api: Api, sessions: Any,
                                                                              customer_id: str) -> None:
    """Entered two days ago (T). A, shown the wheel: pages at T, +5, +12 min (720 s) and
    +2 h, +2 h 3 min (180 s). B, shown it: one page at +1 h (0 s). C, never shown it:
    +10 and +50 min (40 min apart: two sessions of 0 s), +1 d and +1 d 10 min (600 s).
    D, never shown it: a page before entering and one 20 days in, neither counted.
    By hand: all 6 sessions, 1500 s, average 250 s; shown 3 sessions, 900 s, 300 s;
    never shown 3 sessions, 600 s, 200 s. Variant a (A, C): 5 sessions, 1500 s, 300 s;
    variant b (B, D): 1 session, 0 s."""
    T = utcnow() - timedelta(days=2)
    who = {k: f"{customer_id}-{k}" for k in "ABCD"}
    pages = {"A": [0, 5, 12, 120, 123], "B": [60], "C": [10, 50, 1440, 1450], "D": [-60, 20 * 1440]}
    async with sessions() as session:
        rows = {k: JourneyEntry(journey="lead_capture", customer_id=c, workflow_id=f"lead_capture:{c}", run_id="r",
                                entry_message_id=f"entry-{uuid.uuid4()}", entered_at=T) for k, c in who.items()}
        session.add_all(rows.values())
        for k, minutes in pages.items():
            session.add_all(Event(message_id=str(uuid.uuid4()), type="page", customer_id=who[k], name="Home",
                                  properties={"path": "/"}, context={}, timestamp=T + m * M) for m in minutes)
        for k in "AB":
            session.add(Event(message_id=str(uuid.uuid4()), type="track", customer_id=who[k],
                              name="Onsite Message Viewed", properties={"journey": "lead_capture",
                                                                        "placement": "spin_to_win"},
                              context={}, timestamp=T + M))
        session.add(Event(message_id=str(uuid.uuid4()), type="track", customer_id=who["C"],
                          name="Onsite Message Viewed", properties={"journey": "first_purchase_incentive"},
                          context={}, timestamp=T + M))  # another journey's: not the wheel
        session.add_all(ExperimentAssignment(journey="lead_capture", experiment="wheel", customer_id=who[k],
                                             workflow_id=f"lead_capture:{who[k]}", variant=v, assigned_at=T)
                        for k, v in (("A", "a"), ("C", "a"), ("B", "b"), ("D", "b")))
        await session.commit()
        ids = {row.id for row in rows.values()}
        measured = await kpis.measure(session, LeadCapture.spec)
        mine = kpis.Measured([e for e in measured.entries if e.id in ids])
        found = await sessions_module.report(session, LeadCapture.spec, mine, timedelta(days=14))
    assert found["all"] == {"sessions": 6, "average_seconds": 250.0}
    assert found["shown"] == {"sessions": 3, "average_seconds": 300.0}
    assert found["not_shown"] == {"sessions": 3, "average_seconds": 200.0}
    assert found["variants"] == [{"variant": "a", "sessions": 5, "average_seconds": 300.0},
                                 {"variant": "b", "sessions": 1, "average_seconds": 0.0}]

    stats = (await api.operator("GET", "/v1/journeys/lead_capture/stats")).json()
    assert stats["sessions"]["gap_minutes"] == 30 and stats["sessions"]["all"]["sessions"] >= 6
    page = await api.http.get("/dashboard/journeys/lead_capture", auth=("operator", "test-operator-key"))
    assert page.status_code == 200 and 'id="sessions"' in page.text and "Average session duration" in page.text
