"""The journey kit: what every journey workflow shares.

A journey subclasses `Journey`, declares its entry, exits and goal with `@journey(...)`
and writes its `story()` with the waits and sends below. The kit handles the Temporal
plumbing: the event signal, de-duplication by messageId, exiting at any moment, the
conversion window, the demo clock and what operators see in the Temporal UI.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

from workflows.events import SIGNAL, JourneyEvent, On, as_trigger

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        RECORD_CONVERSION,
        SEND_EMAIL,
        SEND_PUSH,
        ConversionRecord,
        Send,
        SendResult,
    )

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
JOURNEY_NAME = SearchAttributeKey.for_keyword("JourneyName")

# Events remembered for de-duplication by messageId. Bounded so a long-lived journey's
# state stays small; the API de-duplicates durably in front of this.
SEEN_MESSAGE_IDS = 1000

SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
SEND_TIMEOUT = timedelta(minutes=2)


@dataclass(frozen=True)
class Goal:
    """The conversion goal: `event` within `within` of entry counts as a conversion."""

    event: str
    within: timedelta


@dataclass(frozen=True)
class JourneySpec:
    name: str
    entry: tuple[On, ...]
    exits: tuple[On, ...] = ()
    listens: tuple[On, ...] = ()
    goal: Goal | None = None

    def enters_on(self, event: JourneyEvent) -> bool:
        return any(t.matches(event) for t in self.entry)

    def exits_on(self, event: JourneyEvent) -> bool:
        return any(t.matches(event) for t in self.exits)

    def wants(self, event: JourneyEvent) -> bool:
        """Does a running journey of this kind need this event as a signal?"""
        return (
            self.enters_on(event)
            or self.exits_on(event)
            or any(t.matches(event) for t in self.listens)
            or (self.goal is not None and event.type == "track" and event.name == self.goal.event)
        )

    def workflow_id(self, customer_id: str) -> str:
        return f"{self.name}:{customer_id}"


@dataclass
class JourneyStart:
    """The workflow input. Settings that change behaviour are copied in at start, so a
    replay of this run sees what the run saw."""

    customer_id: str
    time_scale: float = 1.0


@dataclass
class JourneyResult:
    outcome: str  # completed | exited
    exit_event: str | None = None
    converted: bool = False
    sends: dict[str, str] = field(default_factory=dict)  # step -> sent | skipped | failed


J = TypeVar("J", bound=type)


def journey(
    *,
    name: str,
    enters_on: str | On | tuple[str | On, ...],
    exits_on: str | On | tuple[str | On, ...] = (),
    listens_to: tuple[str | On, ...] = (),
    goal: Goal | None = None,
) -> Callable[[J], J]:
    """Declare a journey: its metadata, from which the API routes, and its workflow."""

    def triggers(value: str | On | tuple[str | On, ...]) -> tuple[On, ...]:
        items = value if isinstance(value, tuple) else (value,)
        return tuple(as_trigger(v) for v in items)

    def wrap(cls: J) -> J:
        cls.spec = JourneySpec(  # type: ignore[attr-defined]
            name=name,
            entry=triggers(enters_on),
            exits=triggers(exits_on),
            listens=triggers(listens_to),
            goal=goal,
        )
        return workflow.defn(cls)

    return wrap


class Journey:
    spec: ClassVar[JourneySpec]

    def __init__(self) -> None:
        self.start = JourneyStart(customer_id="")
        self.events: list[JourneyEvent] = []
        self.entry: JourneyEvent | None = None
        self.entered_at: datetime | None = None
        self.exit_event: JourneyEvent | None = None
        self.conversion: JourneyEvent | None = None
        self.sends: dict[str, str] = {}
        self.step = "entering"
        self.next_wake_up: datetime | None = None
        self.timeline: list[str] = []
        self._seen: deque[str] = deque(maxlen=SEEN_MESSAGE_IDS)

    # ----- the story, written by each journey -----

    async def story(self) -> None:
        raise NotImplementedError

    # ----- Temporal handlers -----

    @workflow.signal(name=SIGNAL)
    def on_event(self, event: JourneyEvent) -> None:
        # At-least-once delivery upstream (client retries, API re-routing) means the
        # same messageId can arrive twice; it must count once.
        if event.message_id in self._seen:
            return
        self._seen.append(event.message_id)
        self.events.append(event)
        now = workflow.now()
        if self.entry is None and self.spec.enters_on(event):
            self.entry, self.entered_at = event, now
            self._note(f"entered on {event.name}")
        goal = self.spec.goal
        if (
            goal is not None
            and self.conversion is None
            and self.entered_at is not None
            and event.name == goal.event
            and now - self.entered_at <= self.scaled(goal.within)
        ):
            self.conversion = event
            self._note(f"converted: {event.name}")
        if self.exit_event is None and self.entry is not None and self.spec.exits_on(event):
            self.exit_event = event
            self._note(f"exit on {event.name}")

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {
            "journey": self.spec.name,
            "customer_id": self.start.customer_id,
            "step": self.step,
            "next_wake_up": self.next_wake_up.isoformat() if self.next_wake_up else None,
            "entered_at": self.entered_at.isoformat() if self.entered_at else None,
            "sends": dict(self.sends),
            "converted": self.conversion is not None,
            "exited_on": self.exit_event.name if self.exit_event else None,
            "timeline": list(self.timeline),
        }

    # ----- the run loop every journey shares -----

    async def play(self, start: JourneyStart) -> JourneyResult:
        self.start = start
        # Signal-with-start hands the entry event in the same task as the start.
        await workflow.wait_condition(lambda: self.entry is not None)
        story = asyncio.create_task(self.story())
        # The exit is watched beside the story, not between its steps: an order placed
        # while the journey waits or sends ends it at once.
        await workflow.wait_condition(lambda: story.done() or self.exit_event is not None)
        if not story.done():
            story.cancel()
            try:
                await story
            except asyncio.CancelledError:
                pass
        else:
            story.result()  # a bug in the story fails the workflow task loudly

        goal = self.spec.goal
        if goal is not None and self.conversion is None and self.exit_event is None:
            # The story is over; keep listening for the goal until its window closes.
            await self._wait(
                lambda: self.conversion is not None or self.exit_event is not None,
                until=self.after_entry(goal.within),
                step=f"waiting for {goal.event}",
            )
        if self.conversion is not None and goal is not None:
            await self._record_conversion(self.conversion, goal)

        self.step = "exited" if self.exit_event else "completed"
        self.next_wake_up = None
        self._note(self.step)
        return JourneyResult(
            outcome=self.step,
            exit_event=self.exit_event.name if self.exit_event else None,
            converted=self.conversion is not None,
            sends=dict(self.sends),
        )

    # ----- waits -----

    def scaled(self, duration: timedelta) -> timedelta:
        """A journey duration on the demo clock (SOJOURN_TIME_SCALE)."""
        return duration / self.start.time_scale

    def after_entry(self, offset: timedelta) -> datetime:
        assert self.entered_at is not None
        return self.entered_at + self.scaled(offset)

    async def delay(self, duration: timedelta, reason: str) -> None:
        """Wait for a duration; an exit event still ends the journey meanwhile."""
        await self._wait(lambda: False, until=workflow.now() + self.scaled(duration), step=reason)

    async def delay_until(self, when: datetime, reason: str) -> None:
        await self._wait(lambda: False, until=when, step=reason)

    async def wait_for(
        self, trigger: str | On, *, within: timedelta, reason: str | None = None
    ) -> JourneyEvent | None:
        """Wait for an event that arrives from now on; return it, or None on timeout."""
        on, seen = as_trigger(trigger), len(self.events)

        def arrived() -> JourneyEvent | None:
            return next((e for e in self.events[seen:] if on.matches(e)), None)

        await self._wait(
            lambda: arrived() is not None,
            until=workflow.now() + self.scaled(within),
            step=reason or f"waiting for {on.name}",
        )
        return arrived()

    async def _wait(self, done: Callable[[], bool], *, until: datetime, step: str) -> None:
        remaining = until - workflow.now()
        self.step, self.next_wake_up = step, until
        self._show()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(done, timeout=remaining, timeout_summary=step)
            except asyncio.TimeoutError:
                pass
        self.next_wake_up = None

    # ----- sends -----

    async def send_email(self, step: str, *, template: str, data: dict[str, Any] | None = None) -> SendResult:
        return await self._send(SEND_EMAIL, step, template, data or {})

    async def send_push(self, step: str, *, template: str, data: dict[str, Any] | None = None) -> SendResult:
        return await self._send(SEND_PUSH, step, template, data or {})

    async def _send(self, activity: str, step: str, template: str, data: dict[str, Any]) -> SendResult:
        info = workflow.info()
        self.step = f"{step}: sending"
        self._show()
        result = await workflow.execute_activity(
            activity,
            Send(
                # Stable across retries and worker restarts, distinct per journey run.
                key=f"{info.workflow_id}/{info.first_execution_run_id}/{step}",
                customer_id=self.start.customer_id,
                journey=self.spec.name,
                workflow_id=info.workflow_id,
                step=step,
                template=template,
                data=data,
            ),
            result_type=SendResult,
            start_to_close_timeout=SEND_TIMEOUT,
            retry_policy=SEND_RETRY,
            summary=f"{step} ({template})",
        )
        self.sends[step] = result.status
        self._note(f"{step}: {result.status}" + (f" ({result.detail})" if result.detail else ""))
        return result

    async def _record_conversion(self, event: JourneyEvent, goal: Goal) -> None:
        assert self.entered_at is not None
        await workflow.execute_activity(
            RECORD_CONVERSION,
            ConversionRecord(
                journey=self.spec.name,
                workflow_id=workflow.info().workflow_id,
                customer_id=self.start.customer_id,
                goal_event=goal.event,
                event_message_id=event.message_id,
                entered_at=self.entered_at.isoformat(),
                converted_at=workflow.now().isoformat(),
            ),
            start_to_close_timeout=SEND_TIMEOUT,
            retry_policy=SEND_RETRY,
            summary=f"conversion: {goal.event}",
        )

    # ----- what operators see in the Temporal UI -----

    def _note(self, what: str) -> None:
        self.timeline.append(f"{workflow.now():%Y-%m-%d %H:%M:%S} {what}")
        self._show()

    def _show(self) -> None:
        wake = f"{self.next_wake_up:%Y-%m-%d %H:%M:%S} UTC" if self.next_wake_up else "-"
        lines = [
            f"**{self.spec.name}** for `{self.start.customer_id}`",
            f"**Step:** {self.step}",
            f"**Next wake-up:** {wake}",
            "",
            *(f"- {entry}" for entry in self.timeline[-20:]),
        ]
        workflow.set_current_details("\n".join(lines))
