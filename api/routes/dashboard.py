"""The marketers' dashboard, `/dashboard`: server-rendered pages over the same stats
as `GET /v1/journeys/{name}/stats` (sojourn/analytics/), signed in with an operator
key (HTTP Basic, the key as the password). Charts are drawn by Chart.js, whose file
Sojourn serves itself (api/static/vendor/, MIT): nothing comes from a CDN. Pages
carry no inline script, and the content security policy says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.deps import JourneysDep, SessionsDep, SettingsDep, SignIn, TemporalDep
from api.routes.funnel import funnel_of
from api.routes.journeys import stats_of

router = APIRouter(prefix="/dashboard", include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
CHART_JS = STATIC / "vendor" / "chart-4.6.1.umd.min.js"
PAGES = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "pages"),
                    autoescape=select_autoescape(default=True, default_for_string=True))
HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                      "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'",
           "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def interval(values: list[float] | None) -> str:
    return "-" if not values else f"{values[0] * 100:.1f}% to {values[1] * 100:.1f}%"


PAGES.filters["percent"] = percent
PAGES.filters["interval"] = interval


def page(name: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(PAGES.get_template(name).render(**context), headers=HEADERS)


@router.get("")
async def overview(_: SignIn, journeys: JourneysDep, sessions: SessionsDep, temporal: TemporalDep,
                   settings: SettingsDep) -> HTMLResponse:
    found = [await stats_of(j, sessions, temporal, settings) for j in journeys]
    return page("overview.html", journeys=found, shop=await funnel_of(sessions))


@router.get("/journeys/{name}")
async def journey(name: str, _: SignIn, journeys: JourneysDep, sessions: SessionsDep,
                  temporal: TemporalDep, settings: SettingsDep) -> HTMLResponse:
    chosen = next((j for j in journeys if j.spec.name == name), None)
    if chosen is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no journey named {name!r}")
    found = await stats_of(chosen, sessions, temporal, settings)
    charts = {
        "funnel": [{"stage": s["stage"], "count": s["count"]} for s in found["funnel"]],
        "over_time": found["over_time"],
        "variants": [{"experiment": e["experiment"], "variants": [
            {"variant": v["variant"], "kpis": [{"kpi": k["kpi"], "rate": k["rate"], "interval": k["interval"]}
                                               for k in v["kpis"]]} for v in e["variants"]]}
            for e in found["experiments"]],
    }
    # JSON for the charts, in an inert element the page's script reads ("</" can't end it).
    return page("journey.html", stats=found, spec=chosen.spec.describe(),
                charts=json.dumps(charts).replace("</", "<\\/"))


@router.get("/static/chart.js")
async def chart_js(_: SignIn) -> FileResponse:
    return FileResponse(CHART_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


@router.get("/static/dashboard.js")
async def dashboard_js(_: SignIn) -> FileResponse:
    return FileResponse(STATIC / "dashboard.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"})
