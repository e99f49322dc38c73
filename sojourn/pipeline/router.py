"""From stored events to the journeys that want them, exactly once in effect.

Each round leases due events (sojourn/pipeline/queue.py) and routes them per
customer, in the order received; customers run in parallel.

- An entry event starts the journey, the event in its input. The decision is recorded first
  (`journey_runs`, unique per journey and entry event), so routing the same event
  again never starts a second run: a re-routed entry whose run exists (its memo
  names the event) is only signalled, and journeys drop a messageId they have seen.
- Any other event goes only to runs the router knows are active and that listen
  for it: no RPC for customers who are in no journey. A run that has ended answers
  NOT_FOUND once and is marked ended.
- Temporal unreachable: the round stops, the events stay pending (no attempt is
  counted) and the router backs off. Any other failure makes the event a poison
  event: retried with backoff, then parked `dead`; the customer's later events go on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sojourn.ground.calls import Call
from sojourn.ground.contracts import Profile
from sojourn.ground.db import to_the_end, upsert, write_lock
from sojourn.ground.events import SIGNAL, JourneyEvent
from sojourn.ground.models import Customer, Event, JourneyEntry, JourneyRun, planned_run_id, table, utcnow
from sojourn.ground.settings import Settings
from sojourn.ground.spec import JourneySpec, check_journey_settings, start_attributes, start_input
from sojourn.identity import profiles
from sojourn.pipeline import queue

log = logging.getLogger("sojourn.router")
ROUTED_TYPES = ("track", "page", "screen")
# Temporal is down, overloaded or its connection broke: wait and try again, the event
# is not at fault. These must not count as a poison event's attempt: a failed event
# stops holding back her later ones (so one bad event can't stall her), and a
# transport error taken for one let her next event overtake it. INTERNAL and UNKNOWN
# are what a broken HTTP/2 stream surfaces as ("h2 protocol error").
UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.UNKNOWN,
}


# How long a stopping router lets a round in flight finish before cancelling it.
ROUND_GRACE = 10.0


class TemporalUnavailable(Exception):
    """Temporal could not be reached; the events stay pending."""


def journey_event(message: Call | Event) -> JourneyEvent | None:
    """The signal payload a journey gets, or None for calls journeys never see. An
    identify reaches journeys only when it made her join or leave a segment."""
    membership = getattr(message, "segments", None) or {}
    moved = bool(membership.get("joined") or membership.get("left"))
    if message.type not in ROUTED_TYPES and not (moved and message.type == "identify"):
        return None
    properties = dict(message.properties)
    if message.type in ("page", "screen"):
        # Segment puts the page's path in properties, and analytics.js in context.page too.
        page = message.context.get("page")
        if isinstance(page, dict):
            for name in ("path", "url", "title"):
                properties.setdefault(name, page.get(name))
    timestamp = message.timestamp if message.timestamp.tzinfo else message.timestamp.replace(tzinfo=UTC)
    return JourneyEvent(
        message_id=message.message_id,
        type=message.type,
        name=message.name or "",
        customer_id=message.customer_id,
        properties=properties,
        timestamp=timestamp.isoformat(),
        segments=list(membership.get("in", [])),
        joined=list(membership.get("joined", [])),
        left=list(membership.get("left", [])),
        device=device_of(message.context),
    )


@dataclass
class Wanted:
    """A claimed event as the journeys see it, made and matched against every
    declaration once per round; planning entries and routing both read it. (The store
    asked once already, at acceptance: an event no journey wants never reaches a round.)"""

    event: JourneyEvent | None = None
    journeys: list[tuple[JourneySpec, bool, str | None]] = field(default_factory=list)  # (spec, enters, key)
    # Journey code (a predicate) raised: the journeys before it are routed, then the
    # event fails as a poison event (retried, then parked dead), as it always has.
    error: Exception | None = None

    @classmethod
    def of(cls, row: Event, specs: Sequence[JourneySpec], settings: Any) -> Wanted:
        try:
            wanted = cls(journey_event(row))
        except Exception as exc:  # noqa: BLE001 - odd stored data: a poison event, not a failed round
            return cls(error=exc)
        if wanted.event is None:
            return wanted
        for spec in specs:
            try:
                if spec.wants(wanted.event, settings):
                    wanted.journeys.append((spec, spec.enters_on(wanted.event, settings), spec.key_of(wanted.event)))
            except Exception as exc:  # noqa: BLE001 - kept for routing, which parks the event dead in the end
                wanted.error = exc
                break
        return wanted


MOBILE_AGENT = re.compile(r"Mobi|Android|iPhone|iPad|iPod", re.I)
MOBILE_DEVICES = ("mobile", "phone", "tablet", "ios", "android")


def device_of(context: Any) -> str:
    """"mobile" or "desktop" from what a browser or app SDK put in `context`: Client
    Hints (`userAgentData.mobile`, analytics.js sends them), `device.type`, else the
    user agent; "" when nothing says."""
    if not isinstance(context, dict):
        return ""
    hints = context.get("userAgentData")
    if isinstance(hints, dict) and isinstance(hints.get("mobile"), bool) and hints["mobile"]:
        return "mobile"
    device = context.get("device")
    kind = device.get("type") if isinstance(device, dict) else None
    if isinstance(kind, str) and kind.strip():
        return "mobile" if kind.strip().lower() in MOBILE_DEVICES else "desktop"
    agent = context.get("userAgent")
    if isinstance(agent, str) and agent:
        return "mobile" if MOBILE_AGENT.search(agent) else "desktop"
    return "desktop" if isinstance(hints, dict) and hints.get("mobile") is False else ""


async def _record_entries(session: AsyncSession, runs: list[JourneyRun]) -> None:
    """The entries the KPIs count (journey_entries), written with the runs the router
    plans, in the same transaction: the runs then record none of their own (their start
    input says so), an action less each. A planned run's row carries a run id of its
    own (planned_run_id); the run's early end finds it by its entry event."""
    if runs:
        await session.execute(upsert(session, table(JourneyEntry)).on_conflict_do_nothing(
            index_elements=["workflow_id", "run_id"]), [
            {"journey": r.journey, "customer_id": r.customer_id, "journey_key": r.journey_key,
             "workflow_id": r.workflow_id, "run_id": planned_run_id(r.entry_message_id),
             "entry_message_id": r.entry_message_id, "entered_at": r.started_at} for r in runs])


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, RPCError):
        return exc.status in UNAVAILABLE
    # The lazy client's connect failure; not RecursionError, which is a RuntimeError too.
    return type(exc) is RuntimeError and "connect" in str(exc).lower()


@dataclass
class Runs:
    """One customer's journey runs as the router recorded them."""

    rows: list[JourneyRun] = field(default_factory=list)
    fresh: set[tuple[str, str]] = field(default_factory=set)  # (journey, entry) planned this round
    # Her profile, read with the round's plan when she enters something: the runs it
    # starts get it in their start input (no load_profile activity of their own).
    profile: Profile | None = None

    def active(self, journey: str, key: str | None) -> list[JourneyRun]:
        return [r for r in self.rows if r.journey == journey and r.ended_at is None
                and (key is None or r.journey_key == key)]

    def entered_by(self, journey: str, message_id: str) -> JourneyRun | None:
        return next((r for r in self.rows if r.journey == journey and r.entry_message_id == message_id), None)

    def previous(self, journey: str, key: str) -> list[JourneyRun]:
        return [r for r in self.rows if r.journey == journey and r.journey_key == key]


class Router:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        specs: Sequence[JourneySpec],
        *,
        owner: str | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.sessions = sessions
        self.specs = tuple(specs)
        check_journey_settings(self.specs, settings)  # a typo stops start-up, never a start
        self.owner = owner or f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Loops waiting for work, and whether events came in since a loop last looked.
        # A store wakes one idle loop, not all: under a stream of single calls, rounds
        # then grow with the load instead of every loop claiming a few events each.
        self._idle: deque[asyncio.Event] = deque()
        self._dirty = False
        # Shared by all rounds in flight: while one round claims, plans or settles, or
        # waits on its slowest RPC, the others keep the lanes to Temporal busy.
        self._lanes = asyncio.Semaphore(settings.router_concurrency)
        self.unavailable_since: float | None = None
        self._stopped = False

    # ----- what the store asks -----

    def wants(self, message: Call) -> bool:
        event = journey_event(message)
        if event is None:
            return False
        try:
            return any(spec.wants(event, self.settings) for spec in self.specs)
        except Exception:  # noqa: BLE001 - journey code (a predicate) raised: accept it anyway,
            return True  # and let the router meet it as a poison event, retried then parked dead

    def notify(self) -> None:
        """New events were stored: route now rather than at the next poll."""
        self._dirty = True
        if self._idle:
            self._idle.popleft().set()

    # ----- the loop -----

    async def run_forever(self) -> None:
        """`settings.router_loops` rounds in flight at once; each is like a replica.

        Cancelled, it stops the way a replica should: each loop finishes the round it is
        in (a round cut short mid-transaction can leave SQLite's write lock held:
        `to_the_end`) and takes no other; a loop still busy after `ROUND_GRACE` seconds
        is cancelled. It returns only once every loop has stopped: a loop that outlived
        its app would go on routing with this router's settings."""
        self._stopped = False
        loops = [asyncio.create_task(self._loop(i)) for i in range(self.settings.router_loops)]
        gathered = asyncio.gather(*loops)
        try:
            # Shielded: cancelling run_forever must not cancel the loops mid-round.
            await asyncio.shield(gathered)
        finally:
            self._stopped = True
            while self._idle:
                self._idle.popleft().set()
            await asyncio.wait(loops, timeout=ROUND_GRACE)
            while not all(loop.done() for loop in loops):
                for loop in loops:
                    loop.cancel()
                await asyncio.wait(loops, timeout=1.0)
            failure = gathered.exception() if gathered.done() and not gathered.cancelled() else None
            if failure is not None and not isinstance(failure, asyncio.CancelledError):
                log.error("a routing loop failed", exc_info=failure)

    async def _loop(self, index: int) -> None:
        owner = f"{self.owner}/{index}"
        backoff = 0.0
        while not self._stopped:
            try:
                claimed = await to_the_end(self.route_once(owner))
                backoff = 0.0
            except TemporalUnavailable as exc:
                backoff = min(max(backoff * 2, 0.25), 5.0)
                log.warning("Temporal unavailable (%s); events stay pending, retrying in %.2fs", exc, backoff)
                await asyncio.sleep(backoff)
                continue
            except Exception:  # noqa: BLE001 - the database is down or a bug: keep the loop alive
                log.exception("routing round failed")
                await asyncio.sleep(1.0)
                continue
            if claimed < self.settings.router_batch and not self._stopped:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        if not self._dirty:  # nothing stored since this loop claimed: sleep till woken
            wake = asyncio.Event()
            self._idle.append(wake)
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a
                # cancellation that arrives as the wait ends.
                async with asyncio.timeout(self.settings.router_poll_seconds):
                    await wake.wait()
            except TimeoutError:
                return  # poll: events another process stored
            finally:
                if wake in self._idle:
                    self._idle.remove(wake)
        self._dirty = False
        # Let a burst of single calls gather into one round: far fewer queries per
        # event, for a few milliseconds of latency.
        await asyncio.sleep(self.settings.router_linger_seconds)

    async def route_once(self, owner: str | None = None) -> int:
        """One round: lease, route, settle. Returns how many events it claimed.
        Raises TemporalUnavailable (after settling what it did) if Temporal was down."""
        owner = owner or f"{self.owner}/0"
        per_customer = await queue.claim(
            self.sessions, owner, limit=self.settings.router_batch,
            lease=timedelta(seconds=self.settings.router_lease_seconds),
        )
        if not per_customer:
            return 0
        runs = await self._load_runs(per_customer)
        wanted = {row.id: Wanted.of(row, self.specs, self.settings)
                  for events in per_customer.values() for row in events}
        await self._plan_entries(per_customer, runs, wanted)
        routed: list[int] = []
        failed: list[queue.Failure] = []
        released: list[int] = []
        unavailable: list[BaseException] = []

        async def one_customer(customer_id: str, events: list[Event]) -> None:
            async with self._lanes:
                for i, row in enumerate(events):
                    if unavailable:  # keep this customer's order: the rest waits
                        released.extend(e.id for e in events[i:])
                        return
                    try:
                        await self.route_event(row, runs[customer_id], wanted[row.id])
                        routed.append(row.id)
                    except Exception as exc:  # noqa: BLE001 - sorted below
                        if _is_unavailable(exc):
                            unavailable.append(exc)
                            released.extend(e.id for e in events[i:])
                            return
                        log.warning("event %s (%s) failed to route, attempt %d: %r",
                                    row.message_id, row.name, row.attempts + 1, exc)
                        failed.append(queue.Failure(row.id, row.attempts + 1, f"{type(exc).__name__}: {exc}"))

        await asyncio.gather(*(one_customer(c, events) for c, events in per_customer.items()))
        await queue.settle(
            self.sessions, owner, routed=routed, failed=failed, released=released,
            max_attempts=self.settings.route_max_attempts,
            retry_base=timedelta(seconds=self.settings.route_retry_seconds),
        )
        if unavailable:
            raise TemporalUnavailable(str(unavailable[0]))
        return sum(len(e) for e in per_customer.values())

    async def _load_runs(self, per_customer: dict[str, list[Event]]) -> dict[str, Runs]:
        restricted = [s.name for s in self.specs if s.reentry.mode != "ended"]
        entries = [e.message_id for events in per_customer.values() for e in events]
        async with self.sessions() as session:
            rows = (await session.scalars(
                select(JourneyRun).where(
                    JourneyRun.customer_id.in_(list(per_customer)),
                    or_(JourneyRun.ended_at.is_(None), JourneyRun.journey.in_(restricted),
                        JourneyRun.entry_message_id.in_(entries)),
                ).order_by(JourneyRun.id)
            )).all()
        runs = {c: Runs() for c in per_customer}
        for row in rows:
            runs[row.customer_id].rows.append(row)
        return runs

    async def _plan_entries(self, per_customer: dict[str, list[Event]], runs: dict[str, Runs],
                            wanted: dict[int, Wanted]) -> None:
        """Record, in one statement, the runs this round will start: each entry event
        that finds no active run and may enter. Decided before any RPC, so a retry
        of the round knows what was decided."""
        planned: list[JourneyRun] = []
        now = utcnow()
        for customer_id, events in per_customer.items():
            mine = runs[customer_id]
            for row in events:
                try:
                    entries = self._entries_to_plan(wanted[row.id], mine)
                except Exception:  # noqa: BLE001 - routing the event meets it again, as a poison event
                    continue
                for spec, event, key in entries:
                    run = self._new_run(spec, event, key, now)
                    mine.rows.append(run)
                    mine.fresh.add((spec.name, event.message_id))
                    planned.append(run)
        if not planned:
            return
        async with write_lock(self.sessions), self.sessions() as session:
            runs_table = table(JourneyRun)
            inserted = set(await session.scalars(
                upsert(session, runs_table).on_conflict_do_nothing(index_elements=["journey", "entry_message_id"])
                .returning(runs_table.c.entry_message_id),
                [{"journey": r.journey, "customer_id": r.customer_id, "journey_key": r.journey_key,
                  "workflow_id": r.workflow_id, "entry_message_id": r.entry_message_id, "started_at": now}
                 for r in planned],
            ))
            await _record_entries(session, [r for r in planned if r.entry_message_id in inserted])
            await session.commit()
        async with self.sessions() as session:  # one read for everyone entering, outside the write lock
            entering = sorted({r.customer_id for r in planned})
            found = {c.id: c for c in await session.scalars(select(Customer).where(Customer.id.in_(entering)))}
            for customer_id in entering:
                customer = found.get(customer_id) or await profiles.load_customer(session, customer_id)
                runs[customer_id].profile = profiles.profile_of(customer, customer_id)
        for run in planned:
            if run.entry_message_id not in inserted:  # decided before after all: check on routing
                runs[run.customer_id].fresh.discard((run.journey, run.entry_message_id))

    def _entries_to_plan(self, wanted: Wanted, runs: Runs) -> list[tuple[JourneySpec, JourneyEvent, str | None]]:
        """The journeys this event enters: no active run, and the re-entry policy allows."""
        if wanted.error is not None:
            raise wanted.error
        event = wanted.event
        found: list[tuple[JourneySpec, JourneyEvent, str | None]] = []
        for spec, enters, key in wanted.journeys:
            if event is None or not enters:
                continue
            if (spec.key and key is None) or runs.entered_by(spec.name, event.message_id) is not None:
                continue
            if runs.active(spec.name, key or "") or not self._may_enter(spec, key or "", runs):
                continue
            found.append((spec, event, key))
        return found

    @staticmethod
    def _new_run(spec: JourneySpec, event: JourneyEvent, key: str | None, now: datetime) -> JourneyRun:
        return JourneyRun(journey=spec.name, customer_id=event.customer_id, journey_key=key or "",
                          workflow_id=spec.workflow_id(event.customer_id, key),
                          entry_message_id=event.message_id, started_at=now)

    # ----- one event -----

    async def route_event(self, row: Event, runs: Runs, wanted: Wanted) -> None:
        event = wanted.event
        if event is None:
            return
        for spec, enters, key in wanted.journeys:
            if enters:
                if spec.key and key is None:
                    log.warning("%s enters on %s but %s has no %s; not entered",
                                spec.name, event.name, event.message_id, spec.key)
                    continue
                await self._enter(spec, event, key, runs)
            else:
                # A keyed journey (one run per order) gets a keyless event, e.g.
                # "Referral Sent", in each of the customer's active runs.
                for run in runs.active(spec.name, key if spec.key else ""):
                    await self._signal_run(run, event, runs)
        if wanted.error is not None:
            raise wanted.error

    async def _enter(self, spec: JourneySpec, event: JourneyEvent, key: str | None, runs: Runs) -> None:
        workflow_id = spec.workflow_id(event.customer_id, key)
        if (spec.name, event.message_id) in runs.fresh:  # decided this round, before any RPC
            try:
                await self._start(spec, event, key, runs)
            except WorkflowAlreadyStartedError:
                # A run these records don't know of (another deployment on the same
                # Temporal namespace, a database restored from a backup): she is in the
                # journey, so the entry is just an event for that run, and no entry of
                # its own for the KPIs. Not a poison event.
                if await self._signal(workflow_id, event):
                    await self._unrecord_entry(spec, event)
                else:
                    await self._start(spec, event, key, runs)  # it ended in the meantime
            return
        decided = runs.entered_by(spec.name, event.message_id)
        if decided is not None:
            # Routed before (a retry, or a router that lost its lease): start only if
            # that earlier attempt never did.
            if await self._started_by(workflow_id, event.message_id):
                await self._signal(workflow_id, event)
            else:
                # Its entry too, should the plan predate the router's recording it.
                async with write_lock(self.sessions), self.sessions() as session:
                    await _record_entries(session, [decided])
                    await session.commit()
                await self._start(spec, event, key, runs)
            return
        for run in runs.active(spec.name, key or ""):
            if await self._signal_run(run, event, runs):
                return  # she is in the journey already: the entry is just an event
        if not self._may_enter(spec, key or "", runs):
            return
        run = self._new_run(spec, event, key, utcnow())
        async with write_lock(self.sessions), self.sessions() as session:
            session.add(run)
            try:
                await session.flush()
                await _record_entries(session, [run])
                await session.commit()
            except IntegrityError:  # decided by another router in the meantime
                await session.rollback()
                return
        runs.rows.append(run)
        await self._start(spec, event, key, runs)

    async def _unrecord_entry(self, spec: JourneySpec, event: JourneyEvent) -> None:
        async with write_lock(self.sessions), self.sessions() as session:
            await session.execute(delete(JourneyEntry).where(
                JourneyEntry.journey == spec.name, JourneyEntry.run_id == planned_run_id(event.message_id)))
            await session.commit()

    def _may_enter(self, spec: JourneySpec, key: str, runs: Runs) -> bool:
        """The re-entry policy, once no run is active."""
        if spec.reentry.mode == "ended":
            return True
        previous = runs.previous(spec.name, key)
        if not previous:
            return True
        if spec.reentry.mode == "once" or spec.reentry.cooldown is None:
            return False
        last = max(r.started_at if r.started_at.tzinfo else r.started_at.replace(tzinfo=UTC)
                   for r in previous)
        return utcnow() - last >= spec.reentry.cooldown / self.settings.time_scale

    async def _start(self, spec: JourneySpec, event: JourneyEvent, key: str | None, runs: Runs) -> None:
        if runs.profile is None:  # not read with a plan this round
            async with self.sessions() as session:
                runs.profile = profiles.profile_of(await profiles.load_customer(session, event.customer_id),
                                                   event.customer_id)
        await self.client.start_workflow(
            spec.workflow_type,
            start_input(spec, event.customer_id, key, self.settings, entry=event, entry_recorded=True,
                        profile=runs.profile),
            id=spec.workflow_id(event.customer_id, key),
            task_queue=self.settings.task_queue,
            search_attributes=start_attributes(spec, event.customer_id),
            memo={"entry": event.message_id},
            static_summary=f"{spec.name} for {event.customer_id}" + (f" ({spec.key} {key})" if key else ""),
        )

    async def _started_by(self, workflow_id: str, message_id: str) -> bool:
        try:
            described = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return await described.memo_value("entry", None) == message_id

    async def _signal_run(self, run: JourneyRun, event: JourneyEvent, runs: Runs) -> bool:
        """Signal an active run; False (and the run marked ended) if it has ended."""
        if await self._signal(run.workflow_id, event):
            return True
        now = utcnow()
        async with write_lock(self.sessions), self.sessions() as session:
            await session.execute(
                update(JourneyRun).where(JourneyRun.workflow_id == run.workflow_id, JourneyRun.ended_at.is_(None))
                .values(ended_at=now)
            )
            await session.commit()
        for other in runs.rows:
            if other.workflow_id == run.workflow_id and other.ended_at is None:
                other.ended_at = now
        return False

    async def _signal(self, workflow_id: str, event: JourneyEvent) -> bool:
        try:
            await self.client.get_workflow_handle(workflow_id).signal(SIGNAL, event)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

