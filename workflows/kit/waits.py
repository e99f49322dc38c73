"""The kit's waits: durations, dates and local times, and events with predicates.

Every wait goes through `_wait`, the one place a journey idles. It is journaled, so
after continue-as-new a wait resumes with the deadline it had (workflows/kit/journey.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from temporalio import workflow

from sojourn.ground.events import JourneyEvent, On, Trigger, as_trigger, holds
from workflows.kit.base import Kit

with workflow.unsafe.imports_passed_through():
    from sojourn.ground import calendar


class Waits(Kit):
    """Mixed into Journey: uses its state (`self.s`), input (`self.start`) and the
    operator view (`self.step`, `self.next_wake_up`, `self._show`)."""

    def scaled(self, duration: timedelta) -> timedelta:
        """A journey duration on the demo clock (SOJOURN_TIME_SCALE)."""
        return duration / self.start.time_scale

    def _toward(self, target: datetime) -> datetime:
        """A calendar target on the demo clock: the distance from now, scaled."""
        now = workflow.now()
        return now + self.scaled(target - now) if target > now else now

    def after_entry(self, offset: timedelta) -> datetime:
        entered_at = self.entered_at
        assert entered_at is not None
        return entered_at + self.scaled(offset)

    async def delay(self, duration: timedelta, reason: str) -> None:
        """Wait for a duration; an exit event still ends the journey meanwhile."""
        await self._wait(lambda: False, until=workflow.now() + self.scaled(duration), step=reason)

    async def delay_until(self, when: datetime, reason: str) -> None:
        await self._wait(lambda: False, until=when, step=reason)

    async def delay_until_local(
        self, at: time, *, weekdays: frozenset[int] = calendar.EVERY_DAY, reason: str | None = None,
        at_latest: datetime | None = None, if_passed: str = "next",
    ) -> None:
        """Wait until a local time of day in the customer's time zone, on allowed
        weekdays; never past `at_latest` (e.g. `self.after_entry(timedelta(days=1))`).
        When today's has passed: `if_passed="next"` waits for the next one, `"now"`
        goes on at once ("that evening", when her evening has begun)."""
        tz = await self.timezone()
        now = workflow.now()
        target = calendar.next_local_time(now, tz, at, weekdays)
        if if_passed == "now" and target.astimezone(tz).date() != now.astimezone(tz).date():
            target = now
        until = self._toward(target) if at_latest is None else min(self._toward(target), at_latest)
        await self._wait(lambda: False, until=until, step=reason or f"until {at:%H:%M} local")

    async def wait_until_quiet(
        self, trigger: str | On | tuple[str | On, ...], *, quiet: timedelta, at_most: timedelta, reason: str,
    ) -> None:
        """Wait until she has done none of these for `quiet` (she has left the shop):
        each one she does starts the quiet time again; never longer than `at_most`
        from now, so a shopper who never stops still gets her turn."""
        key = self._key("quiet")
        record = self.s.journal.setdefault(key, {
            "give_up": (workflow.now() + self.scaled(at_most)).isoformat()})  # journaled: same after continue-as-new
        give_up = datetime.fromisoformat(record["give_up"])
        while workflow.now() < give_up:
            within = min(self.scaled(quiet), give_up - workflow.now()) * self.start.time_scale
            if await self.wait_for(trigger, within=within, reason=reason) is None:
                return

    async def delay_until_date(
        self, value: Any, *, offset: timedelta = timedelta(0), reason: str | None = None
    ) -> bool:
        """Wait until a date held in a property, plus or minus `offset`. Returns False
        (without waiting) when the value is missing or not a date."""
        tz = await self.timezone()
        try:
            target = calendar.parse_when(value, tz) + offset
        except (TypeError, ValueError):
            self._note(f"no date to wait for in {value!r}")
            return False
        await self._wait(lambda: False, until=self._toward(target), step=reason or f"until {target:%Y-%m-%d %H:%M} UTC")
        return True

    async def wait_for(
        self,
        trigger: str | On | tuple[str | On, ...],
        *,
        within: timedelta,
        where: Callable[[JourneyEvent], bool] | None = None,
        reason: str | None = None,
    ) -> JourneyEvent | None:
        """Wait for an event (or one of several) that arrives from now on; return it, or
        None when `within` runs out."""
        triggers = [as_trigger(t) for t in (trigger if isinstance(trigger, tuple) else (trigger,))]
        key = self._key("wait_for")
        since = self.s.journal.get(key, {}).get("since", self.s.first_seq + len(self.s.events))

        def arrived() -> JourneyEvent | None:
            for event in self.s.events[max(0, since - self.s.first_seq):]:
                if holds(lambda: any(t.matches(event) for t in triggers) and (where is None or where(event))):
                    return event
            return None

        found = await self._wait(
            lambda: arrived() is not None,
            until=workflow.now() + self.scaled(within),
            step=reason or f"waiting for {' or '.join(_label(t) for t in triggers)}",
            key=key,
            extra={"since": since},
        )
        if not found:
            return None
        journaled = self.s.journal[key].get("event")
        if journaled is None:
            event = arrived()
            self.s.journal[key]["event"] = event
            return event
        return journaled if isinstance(journaled, JourneyEvent) else JourneyEvent(**journaled)

    async def _wait(
        self,
        done: Callable[[], bool],
        *,
        until: datetime,
        step: str,
        key: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """The one place a journey idles. Journaled, so after continue-as-new it resumes
        with its original deadline. Returns whether `done` came true before `until`."""
        key = key or self._key("wait")
        record = self.s.journal.get(key)
        if record is None:
            record = self.s.journal[key] = {"until": until.isoformat(), **(extra or {})}
        elif "done" in record:
            return bool(record["done"])
        until = datetime.fromisoformat(record["until"])
        self.step, self.next_wake_up = step, until
        self._show()
        result = done()
        remaining = until - workflow.now()
        if not result and remaining > timedelta(0):
            self._idle = True
            try:
                await workflow.wait_condition(done, timeout=remaining, timeout_summary=step)
                result = True
            except TimeoutError:
                result = False
            finally:
                self._idle = False
        record["done"] = result
        self.next_wake_up = None
        return result


def _label(trigger: Trigger) -> str:
    """A trigger as the operator's step names it: the event's name or type, else what it
    says of itself (a segment's Joins or Leaves has neither)."""
    return getattr(trigger, "name", None) or getattr(trigger, "type", None) or str(trigger.describe())
