"""A journey's KPIs, from its entries and the customers' events.

Every KPI a journey declares (its `goal` and `also_measures`, sojourn/ground/spec.py) is
measured the same way: for each entry (a run, `journey_entries`), did she send the
KPI's event within its window after entering (after the KPI's `after` event, if it
has one)? The first such event counts, once per entry; its `revenue` property (or
`total`, or `value`) is its value when the KPI declares `revenue`. Windows are on the
demo clock when SOJOURN_TIME_SCALE is set, as the runs' own.

Denominators are honest: a run the story ended early (Journey.end) is no entry for
any KPI. An entry's events are hers under every id she had: an anonymous visitor's
entry counts what she did once signed in.

Attribution: each journey counts a conversion within its own windows. One order that
falls in the windows of several journeys (cart abandonment and the first-purchase
incentive) is a conversion for each of them: the stats say what each journey's
customers did, not which journey caused the order (that is what experiments and
holdouts are for).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.events import JourneyEvent, holds
from sojourn.ground.facts import amount
from sojourn.ground.models import Event, Identity, JourneyEntry, Message, aware
from sojourn.ground.spec import Goal, JourneySpec


@dataclass(frozen=True)
class Entry:
    id: int
    workflow_id: str
    customer_id: str
    entered_at: datetime
    ended_early: bool
    entry_message_id: str = ""


@dataclass
class Outcome:
    """One KPI for one entry: reached, when, and its value."""

    at: datetime
    value: float | None = None


@dataclass
class Measured:
    """Each entry's outcome per KPI (by the KPI's name)."""

    entries: list[Entry]
    outcomes: dict[str, dict[int, Outcome]] = field(default_factory=dict)
    # Per KPI measured per delivery or impression: the entries that had one.
    eligible: dict[str, set[int]] = field(default_factory=dict)

    def counted(self) -> list[Entry]:
        return [e for e in self.entries if not e.ended_early]

    def base(self, goal: Goal, among: list[int] | None = None) -> list[int]:
        """The KPI's denominator: the counted entries (of `among`, if given) it is per."""
        ids = [e.id for e in self.counted()] if among is None else among
        return ids if goal.per == "entry" else [i for i in ids if i in self.eligible.get(goal.kpi, set())]


def declared(spec: JourneySpec) -> list[Goal]:
    return [g for g in (spec.goal, *spec.also_measures) if g is not None]


async def entries(session: AsyncSession, journey: str) -> list[Entry]:
    rows = await session.execute(select(JourneyEntry.id, JourneyEntry.workflow_id, JourneyEntry.customer_id,
                                        JourneyEntry.entered_at, JourneyEntry.ended_early_at,
                                        JourneyEntry.entry_message_id)
                                 .where(JourneyEntry.journey == journey).order_by(JourneyEntry.entered_at))
    return [Entry(i, w, c, aware(at), ended is not None, m) for i, w, c, at, ended, m in rows]


async def owners_of(session: AsyncSession, entries: list[Entry]) -> dict[str, set[str]]:
    """An id her events are stored under -> the entry ids (customer ids) it stands for:
    the one she entered with, and the customer that id was linked to since."""
    ids = {e.customer_id for e in entries}
    linked = dict((await session.execute(select(Identity.alias_id, Identity.customer_id)
                                          .where(Identity.alias_id.in_(ids)))).all()) if ids else {}
    owners: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        owners[entry.customer_id].add(entry.customer_id)
        if entry.customer_id in linked:
            owners[linked[entry.customer_id]].add(entry.customer_id)
    return owners


async def measure(session: AsyncSession, spec: JourneySpec, time_scale: float = 1.0) -> Measured:
    found = Measured(await entries(session, spec.name))
    kpis = declared(spec)
    if not found.entries or not kpis:
        found.outcomes = {g.kpi: {} for g in kpis}
        return found
    owners = await owners_of(session, found.entries)
    names = {g.event for g in kpis} | {name for g in kpis if (t := g.after_trigger()) is not None and (name := getattr(t, "name", None))}
    if any(g.per == "impression" for g in kpis):
        names.add(IMPRESSION)
    since = min(e.entered_at for e in found.entries)
    rows = await session.execute(
        select(Event.customer_id, Event.name, Event.type, Event.message_id, Event.properties, Event.timestamp)
        .where(Event.customer_id.in_(list(owners)), Event.name.in_(names), Event.timestamp >= since)
        .order_by(Event.timestamp, Event.id))
    events_of: dict[str, list[tuple[datetime, JourneyEvent]]] = defaultdict(list)
    for customer_id, name, type_, message_id, props, at in rows:
        event = JourneyEvent(message_id=message_id, type=type_, name=name or "", customer_id=customer_id,
                             properties=props if isinstance(props, dict) else {})
        for original in owners.get(customer_id, ()):
            events_of[original].append((aware(at), event))
    delivered = await _deliveries(session, spec.name, owners) if any(g.per == "delivery" for g in kpis) else {}
    for goal in kpis:
        found.outcomes[goal.kpi] = {}
        window = goal.within / time_scale
        after = goal.after_trigger()
        if goal.per != "entry":
            found.eligible[goal.kpi] = {
                entry.id for entry in found.entries if any(
                    entry.entered_at <= at <= entry.entered_at + window for at in (
                        delivered.get(entry.customer_id, []) if goal.per == "delivery" else
                        [at for at, e in events_of.get(entry.customer_id, ())
                         if e.name == IMPRESSION and ours(e, spec.name)]))}
        for entry in found.entries:
            prerequisite = after is None
            for at, event in events_of.get(entry.customer_id, ()):
                if at < entry.entered_at or at > entry.entered_at + window:
                    continue
                if event.message_id == entry.entry_message_id:
                    continue  # what entered her is not what she did after
                if goal.own and event.name == goal.event and not ours(event, spec.name):
                    continue  # another journey's message: never this one's click
                if not prerequisite and after is not None:
                    prerequisite = holds(lambda: after.matches(event))  # noqa: B023 - used at once
                    continue
                if event.type == "track" and event.name == goal.event:
                    value = amount(event.properties) if goal.revenue else None
                    found.outcomes[goal.kpi][entry.id] = Outcome(at, value)
                    break
    return found


IMPRESSION = "Onsite Message Viewed"


def ours(event: JourneyEvent, journey: str) -> bool:
    """Is this click or impression one of the journey's own messages?"""
    return event.properties.get("journey") == journey


async def _deliveries(session: AsyncSession, journey: str, owners: dict[str, set[str]]) -> dict[str, list[datetime]]:
    """When the journey's messages went out (email, push, webhook), by the entry id they count for."""
    rows = await session.execute(select(Message.customer_id, Message.sent_at).where(
        Message.journey == journey, Message.status == "sent", Message.channel.in_(DELIVERED),
        Message.customer_id.in_(list(owners)), Message.sent_at.is_not(None)))
    found: dict[str, list[datetime]] = defaultdict(list)
    for customer_id, sent_at in rows:
        at: datetime | None = aware(sent_at)
        for original in owners.get(customer_id, ()):
            if at is not None:
                found[original].append(at)
    return found


DELIVERED = ("email", "push", "webhook")


@dataclass
class KpiStats:
    kpi: str
    event: str
    within_seconds: float
    entries: int
    conversions: int
    rate: float | None
    interval: tuple[float, float] | None
    revenue: float | None = None
    average_value: float | None = None

    definition: str = ""
    per: str = "entry"

    def describe(self) -> dict[str, Any]:
        return {"kpi": self.kpi, "event": self.event, "within_seconds": self.within_seconds, "entries": self.entries,
                "conversions": self.conversions, "rate": self.rate,
                "interval": list(self.interval) if self.interval else None,
                "revenue": self.revenue, "average_value": self.average_value, "per": self.per,
                "definition": self.definition}


def stats(goal: Goal, entry_ids: list[int], outcomes: dict[int, Outcome]) -> KpiStats:
    """`entry_ids`: the KPI's denominator (Measured.base)."""
    from sojourn.analytics.statistics import wilson

    reached = [outcomes[i] for i in entry_ids if i in outcomes]
    n, c = len(entry_ids), len(reached)
    revenue = round(sum(o.value or 0.0 for o in reached), 2) if goal.revenue else None
    return KpiStats(goal.kpi, goal.event, goal.within.total_seconds(), n, c, c / n if n else None, wilson(c, n),
                    revenue, round(revenue / c, 2) if revenue is not None and c else None, goal.definition(),
                    goal.per)


def by_day(measured: Measured, goal: Goal) -> list[dict[str, Any]]:
    """Entries and this KPI's conversions per day (UTC), for the chart over time."""
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for entry in measured.counted():
        days[entry.entered_at.date().isoformat()][0] += 1
    for outcome in measured.outcomes.get(goal.kpi, {}).values():
        days[outcome.at.date().isoformat()][1] += 1
    return [{"day": day, "entries": e, "conversions": c} for day, (e, c) in sorted(days.items())]
