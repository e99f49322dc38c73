"""The journey kit: what every journey workflow shares.

A journey subclasses `Journey`, declares itself with `@journey(...)` (sojourn/ground/spec.py)
and tells its `story()` with the waits, decisions and sends below. The kit does the
Temporal plumbing: the event signal and de-duplication by messageId, exits that act
at any moment, the conversion window, the demo clock, continue-as-new with the state
carried over, and what operators see in the Temporal UI.

The kit is split along its concerns: this module holds the run (state, the event
signal, exits, the goal, continue-as-new, the operator view); workflows/kit/waits.py,
workflows/kit/decisions.py and workflows/kit/sends.py hold what a story calls, mixed into
`Journey`.

Durable steps. Each kit call in a story is numbered in call order and its outcome is
kept in a journal. After continue-as-new the story runs again from the top and every
call already made returns its journaled outcome at once (a wait resumes with the time
it had left), so a long journey keeps a short history without losing its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from sojourn.ground.events import SIGNAL, Contains, JourneyEvent, On, OneOf, Prefix, Setting, holds
from sojourn.ground.segments import Joins, Leaves, Segment
from sojourn.ground.spec import (  # noqa: F401 - the search attributes are re-exported for operators' code
    CUSTOMER_ID,
    JOURNEY_NAME,
    JOURNEY_STEP,
    JOURNEY_VARIANT,
    JOURNEY_WAKE_UP,
    Goal,
    JourneySpec,
    Reentry,
    Triggers,
    start_attributes,
    triggers,
)
from workflows.kit.audiences import Audiences
from workflows.kit.coupons import Coupon, Coupons
from workflows.kit.decisions import Decisions
from workflows.kit.intelligence import Intelligence
from workflows.kit.options import RECORD_TIMEOUT, SEND_RETRY
from workflows.kit.records import Records
from workflows.kit.sends import Sends
from workflows.kit.state import JourneyResult, JourneyStart, JourneyState
from workflows.kit.waits import Waits

with workflow.unsafe.imports_passed_through():
    from sojourn.ground.contracts import (
        RECORD_CONVERSION,
        RECORD_END,
        RECORD_ENTRY,
        WITHDRAW_ONSITE,
        ConversionRecord,
        EndRecord,
        EntryRecord,
        OnsiteWithdrawal,
        Profile,
    )

# What a journey file needs, from one place.
__all__ = ["Contains", "Coupon", "Goal", "Joins", "Journey", "JourneyEvent", "JourneyResult", "JourneyStart", "Leaves",
           "On", "OneOf", "Prefix", "Reentry", "Segment", "Setting", "journey"]


# Bounded per-customer state: messageIds remembered for de-duplication, events kept
# for the story to look back on, timeline lines shown to operators.
SEEN_MESSAGE_IDS = 500
KEPT_EVENTS = 200
TIMELINE_LINES = 30
# Continue-as-new at the server's suggestion, or here at the latest.
MAX_HISTORY_EVENTS = 10_000



class EndedEarly(Exception):
    """Raised by Journey.end: the story is over for this customer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Journey(Waits, Decisions, Sends, Coupons, Intelligence, Audiences, Records):
    spec: ClassVar[JourneySpec]

    @workflow.init
    def __init__(self, start: JourneyStart) -> None:
        # The input is taken here, not in run(): after continue-as-new, signals that
        # waited for the new run are delivered before run() starts, and they must
        # land in the carried state.
        self.start = start
        self.s = start.state or JourneyState()
        if start.state is not None:
            self.s.runs += 1
        self.step = "entering"
        self.next_wake_up: datetime | None = None
        self._op = 0
        self._idle = False
        self._seen: set[str] = set(self.s.seen)
        self._profile: Profile | None = None
        self._shown_step = ""
        if start.entry is not None and start.state is None:
            self.on_event(start.entry)

    # ----- the story, told by each journey -----

    async def story(self) -> None:
        raise NotImplementedError

    # ----- what the story reads -----

    @property
    def entry(self) -> JourneyEvent | None:
        return self.s.entry

    @property
    def entered_at(self) -> datetime | None:
        return datetime.fromisoformat(self.s.entered_at) if self.s.entered_at else None

    @property
    def events(self) -> list[JourneyEvent]:
        return self.s.events

    def changed(self, change: str) -> bool:
        """Does this run take `change`, a new path in the story? Yes if the code that
        started it already made the change: its input names it (the journey declares it
        in `@journey(changes=...)`), and that costs nothing. Otherwise Temporal's
        `workflow.patched` decides: a run that entered before the change replays its
        history as recorded, and one that reaches the new path for the first time takes
        it (a patch marker, and a search-attribute upsert Temporal bills as an action)."""
        return self.started_with(change) or workflow.patched(change)

    def started_with(self, change: str) -> bool:
        """Did the code that started this run already make `change` (its input names
        it)? Pure, with no patch marker: for what a signal handler decides, such as
        `run_goal`."""
        return change in (self.start.changes or ())

    def run_goal(self) -> Goal | None:
        """The goal this run converts on: the journey's. A journey whose goal changed
        overrides this so that runs started before the change keep the goal their
        history recorded (workflows/journeys/referral_ask.py)."""
        return self.spec.goal

    def param(self, name: str) -> Any:
        """A journey parameter: the value settings gave at start, else the declared default."""
        return self.start.params.get(name, self.spec.params.get(name))

    # ----- Temporal handlers -----

    @workflow.signal(name=SIGNAL)
    def on_event(self, event: JourneyEvent) -> None:
        # At-least-once delivery upstream (client retries, API re-routing) means the
        # same messageId can arrive twice; it must count once.
        if event.message_id in self._seen:
            return
        self._remember(event.message_id)
        now = workflow.now()
        if self.s.entry is None:
            # The router decided admission (only_for) on the facts as of the event.
            if not holds(lambda: self.spec.triggered_by(event)):
                return  # nothing before the entry belongs to this journey
            self.s.entry, self.s.entered_at = event, now.isoformat()
            self._note(f"entered on {event.name}")
        self.s.events.append(event)
        if len(self.s.events) > KEPT_EVENTS:
            del self.s.events[0]
            self.s.first_seq += 1
        goal = self.run_goal()
        entered_at = self.entered_at
        if (
            goal is not None
            and self.s.conversion is None
            and entered_at is not None
            and event.type == "track"
            and event.name == goal.event
            and event is not self.s.entry  # a first order entering a journey is not its conversion
            and now - entered_at <= self.scaled(goal.within)
            and self._goal_due(goal)
        ):
            self.s.conversion = event
            self._note(f"converted: {event.name}")
        if self.s.exit_event is None and holds(lambda: self.spec.exits_on(event)):
            self.s.exit_event = event
            self._note(f"exit on {event.name}")

    def _goal_due(self, goal: Goal) -> bool:
        """A goal with `after` counts only once its prerequisite came (before the goal event, the last one kept)."""
        after = goal.after_trigger()
        if after is None:
            return True

        def came(event: JourneyEvent) -> bool:
            return holds(lambda: after.matches(event))

        return any(came(e) for e in self.s.events[:-1])

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {
            "journey": self.spec.name,
            "customer_id": self.start.customer_id,
            "journey_key": self.start.journey_key,
            "step": self.step,
            "next_wake_up": self.next_wake_up.isoformat() if self.next_wake_up else None,
            "entered_at": self.s.entered_at,
            "sends": dict(self.s.sends),
            "variants": dict(self.s.variants),
            "converted": self.s.conversion is not None,
            "exited_on": self.s.exit_event.name if self.s.exit_event else None,
            "events": len(self.s.events),
            "runs": self.s.runs,
            "timeline": list(self.s.timeline),
        }

    # ----- the run loop every journey shares -----

    async def play(self, start: JourneyStart) -> JourneyResult:
        # Signal-with-start hands the entry event in the same task as the start.
        await workflow.wait_condition(lambda: self.s.entry is not None)
        if start.state is None and not start.entry_recorded:
            await self._record_entry()

        story = asyncio.create_task(self._story_then_goal())
        # The exit is watched beside the story, not between its steps: an order placed
        # while the journey waits or sends ends it at once.
        await workflow.wait_condition(
            lambda: story.done() or self.s.exit_event is not None or self._continue_as_new_due()
        )
        if not story.done():
            story.cancel()
            try:
                await story
            except asyncio.CancelledError:
                pass
            if self.s.exit_event is None:
                # Continue-as-new: let signal handlers finish so no event is lost, then
                # hand the whole state to a fresh run with a short history.
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._note(f"continued as new (run {self.s.runs + 1})")
                workflow.continue_as_new(JourneyStart(**{**start.__dict__, "state": self.s, "entry": None}))
        else:
            failure = story.exception()
            if isinstance(failure, EndedEarly):
                self.s.ended_early = failure.reason
                await self._record_end(failure.reason)
            elif failure is not None:
                await self._withdraw_onsite()
                await self._leave_audiences("the run failed")
                raise self._failed(failure)
        await self._withdraw_onsite()
        await self._leave_audiences("exited" if self.s.exit_event else "ended early" if self.s.ended_early
                                    else "converted" if self.s.conversion else "the journey is over")

        # A run that ended early is out of the KPI: its conversion is not recorded. A
        # change: the journey's stats measure conversions from the events
        # (sojourn/analytics/kpis.py), and the run's result says whether it converted, so
        # runs no longer record them with an activity of their own; older runs did.
        goal = self.run_goal()
        if self.s.conversion is not None and goal is not None and self.s.ended_early is None \
                and not self.changed("conversions-from-events"):
            await self._record_conversion(self.s.conversion, goal)
        self.step = "exited" if self.s.exit_event else "ended_early" if self.s.ended_early else "completed"
        self.next_wake_up = None
        self._note(self.step)
        return JourneyResult(
            outcome=self.step,
            exit_event=self.s.exit_event.name if self.s.exit_event else None,
            converted=self.s.conversion is not None,
            sends=dict(self.s.sends),
            runs=self.s.runs,
            reason=self.s.ended_early,
        )

    async def _story_then_goal(self) -> None:
        self._op = 0
        await self.story()
        goal = self.run_goal()
        if goal is not None and self.s.conversion is None:
            # The story is over; keep listening for the goal until its window closes.
            await self._wait(
                lambda: self.s.conversion is not None,
                until=self.after_entry(goal.within),
                step=f"waiting for {goal.event}",
                key="goal",
            )

    async def end(self, reason: str) -> None:
        """End this run here, for a reason ("already bought elsewhere"). The run stops
        listening for its goal and is left out of the KPI: it is no entry in the
        denominator and its conversion is not counted (stats show it as ended early)."""
        self._note(f"ended early: {reason}")
        raise EndedEarly(reason)

    async def _withdraw_onsite(self) -> None:
        """What the run left on the site comes down with it. A change: runs recorded
        before it made no such call."""
        if self.s.onsite and self.changed("withdraw-onsite"):
            info = workflow.info()
            await workflow.execute_activity(
                WITHDRAW_ONSITE, OnsiteWithdrawal(run_key=f"{info.workflow_id}/{info.first_execution_run_id}/"),
                result_type=int, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY,
                summary="withdraw on-site messages",
            )
            self._note("on-site messages withdrawn")

    async def _record_end(self, reason: str) -> None:
        info = workflow.info()
        await workflow.execute_activity(
            RECORD_END,
            EndRecord(workflow_id=info.workflow_id, run_id=info.first_execution_run_id, reason=reason,
                      entry_message_id=self.s.entry.message_id if self.s.entry else None,
                      ended_at=workflow.now().isoformat()),
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=SEND_RETRY,
            summary="ended early",
        )

    def _failed(self, error: BaseException) -> BaseException:
        """What a story that raised does to the run. A bug met on some customer's data
        fails this run for good, visibly: failed in the Temporal UI with the error,
        counted in the journey's stats, and the customer free to enter again. (Left to
        Temporal's default, the workflow task would be retried forever and the journey
        would sit at its last step sending nothing.) Errors of the engine itself, e.g.
        the sandbox refusing a clock read, still fail only the task: a fixed deploy
        then resumes those runs."""
        if isinstance(error, (ApplicationError, workflow.NondeterminismError)) or \
                type(error).__module__.startswith("temporalio"):
            return error
        self.step = "failed"
        self._note(f"failed: {type(error).__name__}: {error}"[:300])
        return ApplicationError(f"the story raised {type(error).__name__}: {error}", type=type(error).__name__,
                                non_retryable=True)

    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return self._idle and (
            info.is_continue_as_new_suggested() or info.get_current_history_length() > MAX_HISTORY_EVENTS
        )

    # ----- records -----

    async def _record_entry(self) -> None:
        info = workflow.info()
        assert self.s.entry is not None and self.s.entered_at is not None
        await workflow.execute_activity(
            RECORD_ENTRY,
            EntryRecord(
                journey=self.spec.name,
                customer_id=self.start.customer_id,
                journey_key=self.start.journey_key or "",
                workflow_id=info.workflow_id,
                run_id=info.first_execution_run_id,
                entry_message_id=self.s.entry.message_id,
                entered_at=self.s.entered_at,
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=SEND_RETRY,
            summary="record entry",
        )

    async def _record_conversion(self, event: JourneyEvent, goal: Goal) -> None:
        assert self.s.entered_at is not None
        await workflow.execute_activity(
            RECORD_CONVERSION,
            ConversionRecord(
                journey=self.spec.name,
                workflow_id=workflow.info().workflow_id,
                customer_id=self.start.customer_id,
                goal_event=goal.event,
                event_message_id=event.message_id,
                entered_at=self.s.entered_at,
                converted_at=workflow.now().isoformat(),
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=SEND_RETRY,
            summary=f"conversion: {goal.event}",
        )

    # ----- bookkeeping -----

    def _key(self, kind: str) -> str:
        self._op += 1
        return f"{self._op}:{kind}"

    def _remember(self, message_id: str) -> None:
        self._seen.add(message_id)
        self.s.seen.append(message_id)
        if len(self.s.seen) > SEEN_MESSAGE_IDS:
            self._seen.discard(self.s.seen.pop(0))

    # ----- what operators see in the Temporal UI -----

    def _note(self, what: str) -> None:
        self.s.timeline.append(f"{workflow.now():%Y-%m-%d %H:%M:%S} {what}")
        del self.s.timeline[:-TIMELINE_LINES]
        self._show()

    def _show(self) -> None:
        wake = f"{self.next_wake_up:%Y-%m-%d %H:%M:%S} UTC" if self.next_wake_up else "-"
        lines = [
            f"**{self.spec.name}** for `{self.start.customer_id}`"
            + (f" (`{self.start.journey_key}`)" if self.start.journey_key else ""),
            f"**Step:** {self.step}",
            f"**Next wake-up:** {wake}",
            "",
            *(f"- {entry}" for entry in self.s.timeline),
        ]
        workflow.set_current_details("\n".join(lines))
        # The step and wake-up are search attributes only where the shop asked for them
        # (settings' searchable_steps): each upsert is a billable action, and the current
        # details above and the `state` query show both for nothing. A change: runs
        # recorded before upserted them at every wait.
        if self.step == self._shown_step or (self.changed("steps-searchable-on-request")
                                             and not self.start.searchable_steps):
            return
        # Searchable, they are upserted when worth searching for: a wait, and the end.
        # "entering" and "...: sending" last a moment and stay in the current details
        # only. A change: runs recorded before upserted every step.
        transient = self.step == "entering" or self.step.endswith(": sending")
        if not (transient and self.changed("searchable-steps-only")):
            self._shown_step = self.step
            # With its wake-up, in the same command (no action more): her page reads both
            # for all her runs in one visibility call (api/routes/customers.py).
            wakes = (JOURNEY_WAKE_UP.value_set(self.next_wake_up) if self.next_wake_up is not None
                     else JOURNEY_WAKE_UP.value_unset())
            workflow.upsert_search_attributes([JOURNEY_STEP.value_set(self.step[:200]), wakes])


J = TypeVar("J", bound=type)


def journey(
    *,
    name: str,
    enters_on: Triggers,
    exits_on: Triggers = (),
    listens_to: Triggers = (),
    goal: Goal | None = None,
    also_measures: tuple[Goal, ...] = (),
    key: str | None = None,
    reentry: Reentry | None = None,
    params: dict[str, Any] | None = None,
    only_for: Segment | None = None,
    changes: tuple[str, ...] = (),
    sessions_within: timedelta | None = None,
) -> Callable[[J], J]:
    """Declare a journey: its metadata, from which the API routes, and its workflow.
    The class gets the workflow's run method from the kit; it writes only `story()`."""

    def wrap(cls: J) -> J:
        cls.spec = JourneySpec(  # type: ignore[attr-defined]
            name=name,
            entry=triggers(enters_on),
            exits=triggers(exits_on),
            listens=triggers(listens_to),
            goal=goal,
            also_measures=tuple(also_measures),
            key=key,
            reentry=reentry or Reentry(),
            params=dict(params or {}),
            workflow_type=cls.__name__,
            only_for=only_for,
            sessions_within=sessions_within,
            changes=tuple(changes),
        )

        # `self` stays bare: Temporal checks that run()'s parameters are __init__'s.
        async def run(self, start: JourneyStart) -> JourneyResult:  # type: ignore[no-untyped-def]
            journey: Journey = self
            return await journey.play(start)

        # Temporal wants the run method defined on the workflow class itself.
        run.__module__, run.__qualname__ = cls.__module__, f"{cls.__qualname__}.run"
        cls.run = workflow.run(run)  # type: ignore[attr-defined]
        return workflow.defn(cls)

    return wrap
