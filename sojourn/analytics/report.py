"""One journey's report: its KPIs, its funnel, its experiments with their statistics,
and entries and conversions over time; as JSON for the API and the dashboard, and as
CSV (per KPI, per step and per variant) for a spreadsheet.

The funnel: entered -> ended early (left out of every KPI) -> exited (an exit event
came) -> each step, in the order the runs reached them, with its sends by outcome
(sent, skipped, failed, unknown: the ledger) and the entries that clicked it ->
converted (the journey's goal).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.analytics import kpis as kpi
from sojourn.analytics import sessions
from sojourn.analytics import statistics as st
from sojourn.ground.events import JourneyEvent, holds
from sojourn.ground.models import Event, ExperimentAssignment, Message, aware
from sojourn.ground.spec import JourneySpec

CLICKS = ("Message Clicked", "Onsite Message Clicked")


async def build(session: AsyncSession, spec: JourneySpec, time_scale: float = 1.0) -> dict[str, Any]:
    measured = await kpi.measure(session, spec, time_scale)
    goals = kpi.declared(spec)
    return {
        "journey": spec.name,
        "kpis": [kpi.stats(g, measured.base(g), measured.outcomes[g.kpi]).describe() for g in goals],
        "funnel": await funnel(session, spec, measured),
        "experiments": await experiments(session, spec, measured),
        "over_time": kpi.by_day(measured, goals[0]) if goals else [],
        "sessions": await sessions.report(session, spec, measured, spec.sessions_within)
        if spec.sessions_within else None,
    }


async def funnel(session: AsyncSession, spec: JourneySpec, measured: kpi.Measured) -> list[dict[str, Any]]:
    entries = measured.entries
    by_customer: dict[str, list[kpi.Entry]] = defaultdict(list)
    for entry in entries:
        by_customer[entry.customer_id].append(entry)
    stages: list[dict[str, Any]] = [
        {"stage": "entered", "count": len(entries)},
        {"stage": "ended early", "count": sum(e.ended_early for e in entries)},
        {"stage": "exited", "count": await _exited(session, spec, by_customer)},
    ]
    sends = (await session.execute(
        select(Message.step, Message.status, func.count(), func.min(Message.created_at))
        .where(Message.journey == spec.name, Message.channel != "push-delivery")
        .group_by(Message.step, Message.status))).all()
    steps: dict[str, dict[str, Any]] = {}
    for step, status, count, first in sends:
        row = steps.setdefault(step, {"stage": step, "step": True, "first": first, "sends": {}, "clicked": 0})
        row["sends"][status] = count
        row["first"] = min(row["first"], first)
        row["count"] = sum(row["sends"].values())
    clicked, clicked_any = await _clicks(session, spec, by_customer)
    for step, row in steps.items():
        row["clicked"] = clicked.get(step, 0)
    for row in sorted(steps.values(), key=lambda r: (r["first"], r["stage"])):
        row.pop("first")
        stages.append(row)
    goal = spec.goal
    stages.append({"stage": "clicked", "count": clicked_any})
    stages.append({"stage": "converted", "count": len(measured.outcomes.get(goal.kpi, {})) if goal else 0})
    return stages


async def _clicks(session: AsyncSession, spec: JourneySpec,
                  by_customer: dict[str, list[kpi.Entry]]) -> tuple[dict[str, int], int]:
    """Entries that clicked each step's message (a tracked link, or the on-site message)."""
    if not by_customer:
        return {}, 0
    rows = await session.execute(select(Event.customer_id, Event.properties).where(
        Event.customer_id.in_(list(by_customer)), Event.name.in_(CLICKS)))
    per_step: dict[str, set[str]] = defaultdict(set)
    anyone: set[str] = set()
    for customer_id, props in rows:
        if isinstance(props, dict) and props.get("journey") == spec.name and isinstance(props.get("step"), str):
            per_step[props["step"]].add(customer_id)
            anyone.add(customer_id)
    return {step: len(who) for step, who in per_step.items()}, len(anyone)


async def _exited(session: AsyncSession, spec: JourneySpec, by_customer: dict[str, list[kpi.Entry]]) -> int:
    """Entries an exit event reached (an order in a cart journey): the events after entry
    that match the journey's exits."""
    if not spec.exits or not by_customer:
        return 0
    rows = await session.execute(select(Event.customer_id, Event.type, Event.name, Event.message_id,
                                        Event.properties, Event.segments, Event.timestamp)
                                 .where(Event.customer_id.in_(list(by_customer))))
    exited: set[int] = set()
    for customer_id, type_, name, message_id, props, segments, at in rows:
        membership = segments if isinstance(segments, dict) else {}
        event = JourneyEvent(message_id=message_id, type=type_, name=name or "", customer_id=customer_id,
                             properties=props if isinstance(props, dict) else {},
                             joined=list(membership.get("joined", [])), left=list(membership.get("left", [])))
        if not holds(lambda: spec.exits_on(event)):  # noqa: B023 - used at once
            continue
        at = aware(at)
        for entry in by_customer[customer_id]:
            if entry.entered_at <= at and entry.entry_message_id != message_id:
                exited.add(entry.id)
    return len(exited)


async def experiments(session: AsyncSession, spec: JourneySpec, measured: kpi.Measured) -> list[dict[str, Any]]:
    """Per experiment: each variant's KPIs with their intervals, the test against the
    reference (control, else the first variant), the probability of being best, a
    warning when the groups are too small, and the lift over a holdout."""
    rows = (await session.execute(select(ExperimentAssignment.experiment, ExperimentAssignment.workflow_id,
                                         ExperimentAssignment.variant)
                                  .where(ExperimentAssignment.journey == spec.name))).all()
    by_workflow: dict[str, list[int]] = defaultdict(list)
    for entry in measured.counted():
        by_workflow[entry.workflow_id].append(entry.id)
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for experiment, workflow_id, variant in rows:
        groups[experiment][variant].extend(by_workflow.get(workflow_id, []))
    report = []
    for experiment, variants in sorted(groups.items()):
        names = sorted(variants, key=lambda v: (v != "control", v))
        reference = names[0]
        out: dict[str, Any] = {"experiment": experiment, "reference": reference, "lift": [], "warning": None,
                               "variants": [{"variant": v, "entries": len(variants[v]), "kpis": []} for v in names]}
        warnings = []
        for goal in kpi.declared(spec):
            outcomes = measured.outcomes.get(goal.kpi, {})
            bases = {v: measured.base(goal, variants[v]) for v in names}  # per delivery or impression, if it is
            counts = [(sum(1 for i in bases[v] if i in outcomes), len(bases[v])) for v in names]
            best = st.probability_best(counts)
            ref_c, ref_n = counts[0]
            warnings.append(st.too_small(counts))
            for index, (name, (c, n)) in enumerate(zip(names, counts)):
                out["variants"][index]["kpis"].append({
                    "kpi": goal.kpi, "conversions": c, "rate": c / n if n else None, "interval": st.wilson(c, n),
                    "p_value": None if index == 0 else st.two_proportion_p(c, n, ref_c, ref_n),
                    "probability_best": best[index],
                })
                if reference == "control" and index > 0 and (found := st.lift((c, n), (ref_c, ref_n))) is not None:
                    out["lift"].append({"variant": name, "kpi": goal.kpi, "difference": found.difference,
                                        "interval": list(found.interval)})
        out["warning"] = next((w for w in warnings if w), None)
        report.append(out)
    return report


def to_csv(report: dict[str, Any]) -> str:
    """One row per KPI, per funnel stage and per variant and KPI."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["section", "experiment", "variant", "name", "entries", "count", "rate", "interval_low",
                  "interval_high", "p_value", "probability_best", "revenue", "average_value", "sends"])
    for k in report["kpis"]:
        low, high = k["interval"] or (None, None)
        out.writerow(["kpi", "", "", k["kpi"], k["entries"], k["conversions"], k["rate"], low, high, "", "",
                      k["revenue"], k["average_value"], ""])
    for stage in report["funnel"]:
        sends = ";".join(f"{s}={n}" for s, n in sorted(stage.get("sends", {}).items()))
        out.writerow(["step" if stage.get("step") else "funnel", "", "", stage["stage"], "", stage["count"], "", "",
                      "", "", "", "", "", sends])
    for experiment in report["experiments"]:
        for variant in experiment["variants"]:
            for k in variant["kpis"]:
                low, high = k["interval"] or (None, None)
                out.writerow(["variant", experiment["experiment"], variant["variant"], k["kpi"], variant["entries"],
                              k["conversions"], k["rate"], low, high, k["p_value"], k["probability_best"], "", "", ""])
    return buffer.getvalue()
