"""The registered journeys, their KPIs and maps (marketers and operators), and a
customer's journeys (through Temporal visibility), with cancel (operators)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api import live_steps
from api.deps import JourneysDep, MarketerKey, OperatorKey, SessionsDep, SettingsDep, TemporalDep
from sojourn.analytics import journey_map, report
from sojourn.ground.settings import Settings
from sojourn.ground.spec import CUSTOMER_ID, JOURNEY_NAME, JOURNEY_STEP, JOURNEY_VARIANT
from sojourn.intelligence import likelihood
from workflows.kit.journey import Journey

router = APIRouter(tags=["operators"])


def _quoted(customer_id: str) -> str:
    """A visibility-query string literal; refuse what could break out of it."""
    if any(c in customer_id for c in "\"'\\\n\r"):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "customer_id must not contain quotes or backslashes")
    return f'"{customer_id}"'


@router.get("/v1/journeys")
async def list_journeys(_key: MarketerKey, journeys: JourneysDep) -> list[dict[str, Any]]:
    return [journey.spec.describe() for journey in journeys]


@router.get("/v1/journeys/{name}/stats")
async def journey_stats(
    name: str, _key: MarketerKey, sessions: SessionsDep, temporal: TemporalDep, journeys: JourneysDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Its entries and goal, sends by step, every declared KPI with its interval (and
    revenue), the funnel, its experiments with their statistics, and entries and
    conversions per day (sojourn/analytics/)."""
    return await stats_of(_journey(journeys, name), sessions, temporal, settings)


@router.get("/v1/journeys/{name}/stats.csv")
async def journey_stats_csv(
    name: str, _key: MarketerKey, sessions: SessionsDep, temporal: TemporalDep, journeys: JourneysDep,
    settings: SettingsDep,
) -> Response:
    """The same, one row per KPI, per funnel stage and step, and per variant and KPI."""
    found = await stats_of(_journey(journeys, name), sessions, temporal, settings)
    return Response(report.to_csv(found), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}-stats.csv"'})


def _journey(journeys: tuple[type[Journey], ...], name: str) -> type[Journey]:
    journey = next((j for j in journeys if j.spec.name == name), None)
    if journey is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no journey named {name!r}")
    return journey


async def stats_of(journey: type[Journey], sessions: async_sessionmaker[AsyncSession], temporal: Client,
                   settings: Settings) -> dict[str, Any]:
    name = journey.spec.name
    failed = await _failed_runs(temporal, name)
    async with sessions() as session:
        analysed = await report.build(session, journey.spec, settings.time_scale)
    goal = journey.spec.goal
    # Its conversions as the goal's KPI measures them from the events (the runs record
    # none of their own since the kit's "conversions-from-events").
    measured = next((k for k in analysed["kpis"] if goal is not None and k["kpi"] == goal.kpi), None)
    conversions = measured["conversions"] if measured else 0
    # Entries, runs ended early and sends by step are the funnel's own counts.
    stages = {stage["stage"]: stage for stage in analysed["funnel"] if not stage.get("step")}
    entries, ended_early = stages["entered"]["count"], stages["ended early"]["count"]
    by_step = {stage["stage"]: stage["sends"] for stage in analysed["funnel"] if stage.get("step")}
    return {
        "journey": name,
        "entries": entries,
        "conversions": conversions,
        # Runs whose story raised (see Journey._failed): None when Temporal can't be asked.
        "failed": failed,
        "kpi": goal.kpi if goal else None,
        # Runs the story ended early (Journey.end) are no entries for the KPI: left out
        # of the denominator, and their conversions were never recorded.
        "ended_early": ended_early,
        "rate": measured["rate"] if measured else None,
        "sends": by_step,
        **analysed,
    }


@router.get("/v1/likelihood")
async def likelihood_model(_key: MarketerKey, sessions: SessionsDep) -> dict[str, Any]:
    """The likelihood model's last run: trained, with its hold-out metrics (ROC AUC,
    Brier, reliability) beside the baselines (recency alone, the base rate), or no model
    and why (sojourn/intelligence/likelihood.py)."""
    async with sessions() as session:
        return likelihood.describe(await likelihood.latest(session))


@router.get("/v1/journeys/{name}/map")
async def journey_map_of(
    name: str, _key: MarketerKey, sessions: SessionsDep, temporal: TemporalDep, journeys: JourneysDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Its map, read from its code (sojourn/analytics/journey_map.py), each step with its
    numbers: the stats' (reached, sent, clicked, entered, converted) and the runs
    waiting at each wait now; and the map drawn as SVG."""
    nodes = await map_of(_journey(journeys, name), sessions, temporal, settings)
    return {"journey": name, "nodes": journey_map.describe(nodes), "svg": journey_map.svg(name, nodes),
            # Who waits where now is a list filter on each run's step: counted only where
            # the shop keeps steps searchable (an action per wait of every run).
            "waiting_counted": settings.searchable_steps}


async def map_of(journey: type[Journey], sessions: async_sessionmaker[AsyncSession], temporal: Client,
                 settings: Settings, stats: dict[str, Any] | None = None) -> list[journey_map.Node]:
    spec = journey.spec.describe()
    nodes = journey_map.read(journey, spec)
    stats = stats if stats is not None else await stats_of(journey, sessions, temporal, settings)
    waiting = await _waiting(temporal, journey.spec.name, nodes) if settings.searchable_steps else None
    return journey_map.with_numbers(nodes, stats, waiting)


async def _waiting(temporal: Client, name: str, nodes: list[journey_map.Node]) -> dict[str, int]:
    """Runs waiting now at each wait: one count per wait from Temporal's visibility (the
    JourneyStep each run shows), never a list of runs. Temporal down: none counted."""
    found: dict[str, int] = {}
    for step in journey_map.waits(nodes):
        literal = step.replace("\\", "\\\\").replace('"', '\\"')
        if "{...}" in step:  # built at run time: by its first words
            where = f'{JOURNEY_STEP.name} STARTS_WITH "{literal.split("{...}")[0]}"'
        else:
            where = f'{JOURNEY_STEP.name} = "{literal}"'
        try:
            counted = await temporal.count_workflows(
                f'{JOURNEY_NAME.name} = "{name}" AND ExecutionStatus = "Running" AND {where}')
        except Exception:  # noqa: BLE001 - the map still draws, with no one counted waiting
            return {}
        found[step] = counted.count
    return found


async def _failed_runs(temporal: Client, name: str) -> int | None:
    try:
        counted = await temporal.count_workflows(f'{JOURNEY_NAME.name} = "{name}" AND ExecutionStatus = "Failed"')
    except Exception:  # noqa: BLE001 - Temporal down: the stats from the database still answer
        return None
    return counted.count


@router.get("/v1/customers/{customer_id}/journeys")
async def customer_journeys(customer_id: str, _key: OperatorKey, temporal: TemporalDep) -> list[dict[str, Any]]:
    found = []
    async for wf in temporal.list_workflows(f"CustomerId = {_quoted(customer_id)}", limit=200):
        attrs = wf.typed_search_attributes
        found.append({
            "workflow_id": wf.id,
            "run_id": wf.run_id,
            "journey": attrs.get(JOURNEY_NAME),
            "workflow_type": wf.workflow_type,
            "status": wf.status.name if wf.status else None,
            "step": attrs.get(JOURNEY_STEP),
            "variant": attrs.get(JOURNEY_VARIANT),
            "started_at": wf.start_time.isoformat(),
            "closed_at": wf.close_time.isoformat() if wf.close_time else None,
        })
    # Steps not searchable (the default): the running runs tell their own.
    live = await live_steps.ask(temporal, [str(j["workflow_id"]) for j in found
                                           if j["status"] == "RUNNING" and j["step"] is None])
    for run in found:
        if run["workflow_id"] in live:
            run["step"] = live[run["workflow_id"]]["step"]
    return found


@router.post("/v1/customers/{customer_id}/journeys/{workflow_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_journey(customer_id: str, workflow_id: str, _key: OperatorKey, temporal: TemporalDep) -> dict[str, str]:
    handle = temporal.get_workflow_handle(workflow_id)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no journey {workflow_id!r}") from None
        raise
    # An operator key for one customer's page must not cancel someone else's journey.
    if described.typed_search_attributes.get(CUSTOMER_ID) != customer_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no journey {workflow_id!r} for customer {customer_id!r}")
    if described.status != WorkflowExecutionStatus.RUNNING:
        raise HTTPException(status.HTTP_409_CONFLICT, f"journey {workflow_id!r} is {described.status.name.lower() if described.status else 'unknown'}")
    await handle.cancel()
    return {"workflow_id": workflow_id, "status": "cancel requested"}
