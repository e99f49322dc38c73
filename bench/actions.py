"""What each journey costs on the engine: billable actions, history events and history
bytes of its main story (the histories the test suite records, tests/histories/),
beside a minimal hand-written workflow with the same waits and sends.

Billable actions, as Temporal Cloud counts them: the start, each signal, each timer,
each activity scheduled, each search-attribute upsert and each continue-as-new
(heartbeats that reach the server count too; these journeys' sends heartbeat only
while a send runs long). The minimal workflow starts, takes the same signals, sets
the same timers and runs only the sends (`send_*`): no bookkeeping activities
(entry, conversion, coupons, profile reads), no upserts. The floor is what the
searchable step alone costs on top: one upsert per wait and at the end. History
events leave out the test server's own time-skipping bookkeeping.

    .venv/bin/python -m bench.actions
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"
BILLABLE = {
    "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED", "EVENT_TYPE_TIMER_STARTED",
    "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
    "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
}
TEST_SERVER_ONLY = {"EVENT_TYPE_WORKFLOW_EXECUTION_TIME_SKIPPING_TRANSITIONED",
                    "EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED"}


@dataclass
class Cost:
    name: str
    actions: int
    minimal: int
    events: int
    bytes: int
    upserts: int
    bookkeeping: list[str]
    step_upserts: int = 0  # of `upserts`: the searchable JourneyStep (each wait and the end)

    @property
    def ratio(self) -> float:
        return self.actions / self.minimal if self.minimal else float("inf")

    @property
    def floor(self) -> float:
        """The least ratio any journey with the searchable step can reach: the minimal
        workflow plus one upsert per wait and at the end, nothing else."""
        return (self.minimal + self.step_upserts) / self.minimal if self.minimal else float("inf")


def _upserted(event: dict) -> list[str]:
    attributes = event.get("upsertWorkflowSearchAttributesEventAttributes") or {}
    return list((attributes.get("searchAttributes") or {}).get("indexedFields") or {})


def cost(name: str, history: dict) -> Cost:
    events = [e for e in history.get("events", []) if e.get("eventType") not in TEST_SERVER_ONLY]
    kinds = [e.get("eventType") for e in events]
    activities = [e["activityTaskScheduledEventAttributes"]["activityType"]["name"] for e in events
                  if e.get("eventType") == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    sends = [a for a in activities if a.startswith("send_")]
    minimal = (kinds.count("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED") + kinds.count("EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED")
               + kinds.count("EVENT_TYPE_TIMER_STARTED") + len(sends))
    return Cost(name, sum(k in BILLABLE for k in kinds), minimal, len(events),
                len(json.dumps({"events": events}, separators=(",", ":"))),
                kinds.count("EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"),
                [a for a in activities if not a.startswith("send_")],
                sum("JourneyStep" in _upserted(e) for e in events
                    if e.get("eventType") == "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"))


def of_file(path: Path) -> Cost:
    return cost(path.stem, json.loads(path.read_text()))


def main() -> None:
    from workflows.registry import JOURNEYS

    names = [j.spec.name for j in JOURNEYS]
    print(f"{'history':64} {'actions':>7} {'minimal':>7} {'ratio':>6} {'floor':>6} {'events':>6} {'bytes':>7} "
          f"{'upserts':>7}  bookkeeping")
    for path in sorted(HISTORIES.glob("*.json")):
        if not any(path.stem.startswith(n) for n in names):
            continue  # the test suite's probes
        c = of_file(path)
        print(f"{c.name:64} {c.actions:7} {c.minimal:7} {c.ratio:5.2f}x {c.floor:5.2f}x {c.events:6} {c.bytes:7} {c.upserts:7}  "
              f"{', '.join(c.bookkeeping)}")


if __name__ == "__main__":
    main()
