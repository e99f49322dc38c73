"""The marketers' dashboard, `/dashboard`: server-rendered pages over the same stats
as `GET /v1/journeys/{name}/stats` (sojourn/analytics/), signed in with an operator
key (HTTP Basic, the key as the password). Charts are drawn by Chart.js, whose file
Sojourn serves itself (api/static/vendor/, MIT): nothing comes from a CDN. Pages
carry no inline script, and the content security policy says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import select

from activities import previews
from api.deps import ContentDep, CustomerReader, JourneysDep, SessionsDep, SettingsDep, SignIn, TemporalDep
from api.routes.customers import her_page, ids_by_email
from api.routes.funnel import funnel_of
from api.routes.journeys import map_of, stats_of
from sojourn.analytics import journey_map
from sojourn.analytics.content import by_version
from sojourn.content import store
from sojourn.ground.models import Customer, aware
from sojourn.identity.linking import canonical
from sojourn.intelligence import likelihood

router = APIRouter(prefix="/dashboard", include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
CHART_JS = STATIC / "vendor" / "chart-4.6.1.umd.min.js"
PAGES = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "pages"),
                    autoescape=select_autoescape(default=True, default_for_string=True))
HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                      "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'",
           "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def interval(values: list[float] | None) -> str:
    return "-" if not values else f"{values[0] * 100:.1f}% to {values[1] * 100:.1f}%"


PAGES.filters["percent"] = percent
PAGES.filters["interval"] = interval


def when(value: Any) -> str:
    """A time as the page shows it: UTC, to the minute."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value or "")
    return text[:16].replace("T", " ") + (" UTC" if text else "")


PAGES.filters["when"] = when


# The editor's preview shows an email as it arrives: its images come from the shop's
# hosts (https). Nothing else is loosened: no script, style or frame from elsewhere, and
# the preview's frame is sandboxed (no script runs in it).
PREVIEW_HEADERS = {**HEADERS, "Content-Security-Policy": HEADERS["Content-Security-Policy"].replace(
    "img-src 'self' data:", "img-src 'self' data: https:")}


def page(template: str, headers: dict[str, str] = HEADERS, **context: Any) -> HTMLResponse:
    return HTMLResponse(PAGES.get_template(template).render(**context), headers=headers)


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
    drawn = journey_map.svg(name, await map_of(chosen, sessions, temporal, settings, stats=found))
    charts = {
        "funnel": [{"stage": s["stage"], "count": s["count"]} for s in found["funnel"]],
        "over_time": found["over_time"],
        "variants": [{"experiment": e["experiment"], "variants": [
            {"variant": v["variant"], "kpis": [{"kpi": k["kpi"], "rate": k["rate"], "interval": k["interval"]}
                                               for k in v["kpis"]]} for v in e["variants"]]}
            for e in found["experiments"]],
    }
    # JSON for the charts, in an inert element the page's script reads ("</" can't end it).
    return page("journey.html", stats=found, spec=chosen.spec.describe(), journey_map=Markup(drawn),
                charts=json.dumps(charts).replace("</", "<\\/"))


@router.get("/content")
async def content_list(_: SignIn, content: ContentDep, sessions: SessionsDep) -> HTMLResponse:
    await content.ready()
    async with sessions() as session:
        return page("content.html", content=await store.catalogue(session))


@router.get("/content/{kind}/{name}")
async def content_editor(kind: str, name: str, _: SignIn, content: ContentDep, sessions: SessionsDep,
                         settings: SettingsDep) -> HTMLResponse:
    """The editor: the draft (else the live version) beside its preview for the sample
    customer; its versions with their numbers, and a rollback a click away. Its buttons
    call the content API under this page's path (static/content.js)."""
    await content.ready()
    full = f"{kind}/{name}"
    live = await content.snapshot()
    if full not in live.items:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no content {full!r}")
    async with sessions() as session:
        draft = await store.draft_of(session, full)
        found = await store.history(session, full)
        stats = {row["version"]: row for row in await by_version(session, full)}
    parts = dict(draft.parts) if draft is not None else live.items[full]
    shown, problems = None, []
    try:
        shown = previews.render(previews.with_candidate(live, full, parts), full,
                                previews.context_for(settings, None, None))
    except Exception as exc:  # a draft that doesn't render yet: say where, show the rest
        problems = [previews.problem_of(exc, full)]
    return page("content_editor.html", PREVIEW_HEADERS, name=full, kind=kind, short=name, partial=store.is_partial(full),
                parts=parts, live_version=live.versions[full], shown=shown, problems=problems,
                draft=None if draft is None else {"updated_by": draft.updated_by,
                                                  "updated_at": aware(draft.updated_at).isoformat()},
                versions=found["versions"], publications=found["publications"], stats=stats,
                sample_name=previews.SAMPLE_CUSTOMER["first_name"])


@router.get("/likelihood")
async def likelihood_page(_: SignIn, sessions: SessionsDep) -> HTMLResponse:
    """The likelihood model's last run, as GET /v1/likelihood answers it."""
    async with sessions() as session:
        return page("likelihood.html", model=likelihood.describe(await likelihood.latest(session)))


@router.get("/customers")
async def customers(role: CustomerReader, sessions: SessionsDep, q: str = "") -> Response:
    """Find her by id or email: one match opens her page."""
    q = q.strip()[:320]
    matches: list[str] = []
    if q:
        async with sessions() as session:
            if "@" in q:
                matches = await ids_by_email(session, q)
            else:
                matches = [found] if (found := await session.scalar(select(Customer.id).where(
                    Customer.id == await canonical(session, q)))) else []
    if len(matches) == 1:
        return RedirectResponse(f"/dashboard/customers/{quote(matches[0], safe='')}", status.HTTP_303_SEE_OTHER)
    return page("customers.html", q=q, matches=matches)


@router.get("/customers/{customer_id}")
async def customer_page(customer_id: str, role: CustomerReader, sessions: SessionsDep, temporal: TemporalDep,
                        settings: SettingsDep) -> HTMLResponse:
    """Her page: exactly what GET /v1/customers/{id} answers, drawn."""
    return page("customer.html", her=await her_page(customer_id, sessions, temporal, settings))


@router.get("/static/content.js")
async def content_js(_: SignIn) -> FileResponse:
    return FileResponse(STATIC / "content.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/static/chart.js")
async def chart_js(_: SignIn) -> FileResponse:
    return FileResponse(CHART_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


@router.get("/static/dashboard.js")
async def dashboard_js(_: SignIn) -> FileResponse:
    return FileResponse(STATIC / "dashboard.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"})
