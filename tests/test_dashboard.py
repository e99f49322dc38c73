"""The marketers' dashboard in headless Chromium, on seeded data: signed in with an
operator key, it shows each journey's KPIs, its funnel as a chart, the variants side
by side with their intervals and entries over time, and every number on the page is
the API's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from sojourn.analytics.kpis import declared
from sojourn.ground.settings import Settings
from tests.conftest import OPERATOR_KEY, WRITE_KEY, basic
from tests.support.browser import chromium, served
from tests.support.journeys import TEST_JOURNEYS, KpiProbe
from worker import build_worker
from workflows.registry import JOURNEYS


@pytest.fixture
async def dashboard(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[str]:
    from api.main import create_app

    async with build_worker(env.client, settings, sessions, extra_workflows=[KpiProbe]), \
            served(lambda origin: create_app(settings.model_copy(update={"public_url": origin}), temporal=env.client,
                                             journeys=(*JOURNEYS, *TEST_JOURNEYS))) as origin:
        yield origin


async def seed(origin: str, customer_id: str) -> None:
    async with httpx.AsyncClient(base_url=origin, headers={"Authorization": basic(WRITE_KEY)}) as http:
        async def track(who: str, event: str, properties: dict[str, Any] | None = None) -> None:
            body = {"userId": who, "event": event, "properties": properties or {}, "messageId": str(uuid.uuid4())}
            assert (await http.post("/v1/track", json=body)).status_code == 200

        for n in range(6):
            await track(f"{customer_id}-{n}", "KPI Probe")
        await asyncio.sleep(1.5)  # the runs record their entries
        await track(f"{customer_id}-0", "Product Added", {"product_id": "p"})
        await track(f"{customer_id}-0", "Order Completed", {"order_id": "o", "revenue": 25})
        await track(f"{customer_id}-1", "Order Completed", {"order_id": "o1", "revenue": 35})
        await asyncio.sleep(0.5)


async def test_every_number_on_the_page_is_the_apis(dashboard: str, customer_id: str) -> None:
    await seed(dashboard, customer_id)
    async with httpx.AsyncClient(base_url=dashboard) as http:
        assert (await http.get("/dashboard")).status_code == 401
        assert (await http.get("/dashboard", auth=("ops", WRITE_KEY))).status_code == 401, "never a write key"
        api = (await http.get("/v1/journeys/probe_kpis/stats",
                              headers={"Authorization": f"Bearer {OPERATOR_KEY}"})).json()
    async with chromium() as browser:
        context = await browser.new_context(http_credentials={"username": "ops", "password": OPERATOR_KEY})
        errors: list[str] = []
        try:
            page = await context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(dashboard + "/dashboard")
            row = page.locator('#journeys tr[data-journey="probe_kpis"][data-kpi="conversion rate"]')
            conversion = next(k for k in api["kpis"] if k["kpi"] == "conversion rate")
            assert await row.locator(".entries").text_content() == str(conversion["entries"])
            assert await row.locator(".conversions").text_content() == str(conversion["conversions"])
            assert await row.locator(".rate").text_content() == f"{conversion['rate'] * 100:.1f}%"
            for journey in (*JOURNEYS, *TEST_JOURNEYS):  # every journey's every declared KPI has its row
                for goal in declared(journey.spec):
                    listed = page.locator(f'#journeys tr[data-journey="{journey.spec.name}"][data-kpi="{goal.kpi}"]')
                    assert await listed.count() == 1, (journey.spec.name, goal.kpi)

            await page.click('a[href="/dashboard/journeys/probe_kpis"]')
            await page.wait_for_selector("body[data-charts=drawn]")  # (the page's CSP allows no eval, nor polling)
            for kpi in api["kpis"]:
                cells = page.locator(f'#kpis tr[data-kpi="{kpi["kpi"]}"]')
                assert await cells.locator(".conversions").text_content() == str(kpi["conversions"])
                low, high = kpi["interval"]
                assert await cells.locator(".interval").text_content() == f"{low * 100:.1f}% to {high * 100:.1f}%"
            drawn = await page.evaluate("""() => { const c = Chart.getChart(document.getElementById('funnel'));
                return {labels: c.data.labels, counts: c.data.datasets[0].data}; }""")
            assert drawn == {"labels": [s["stage"] for s in api["funnel"]], "counts": [s["count"] for s in api["funnel"]]}
            over_time = await page.evaluate("() => Chart.getChart(document.getElementById('over-time')).data.datasets[0].data")
            assert over_time == [d["entries"] for d in api["over_time"]]
            [headline] = [e for e in api["experiments"] if e["experiment"] == "headline"]
            section = page.locator('.experiment[data-experiment="headline"]')
            assert (await section.locator(".warning").text_content()).startswith("too small a sample")
            bars = await page.evaluate("""() => Chart.getChart(document.querySelector(
                'canvas.variants-chart[data-experiment="headline"]')).data.datasets.map(d => d.label)""")
            assert bars == [v["variant"] for v in headline["variants"]]
            for variant in headline["variants"]:
                first = variant["kpis"][0]
                cell = section.locator(f'tr[data-variant="{variant["variant"]}"][data-kpi="{first["kpi"]}"] .rate')
                assert await cell.text_content() == f"{first['rate'] * 100:.1f}%"
            assert errors == [], errors
        finally:
            await context.close()
