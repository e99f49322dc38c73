"""Analytics: the statistics match scipy/statsmodels and published values on known
inputs; a journey's declared KPIs, funnel, experiments and exports come out of the
API with the numbers its customers made (attribution once per entry, within the
window; runs ended early out of the denominators; an anonymous visitor's entry counts
what she did once signed in)."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis.strategies import characters as st_characters
from hypothesis.strategies import text as st_text
from scipy.stats import chi2_contingency
from statsmodels.stats.proportion import proportion_confint

from sojourn.analytics import statistics as st
from sojourn.ground.settings import Settings
from tests.conftest import OPERATOR_KEY, Api, open_api
from tests.support.journeys import TEST_JOURNEYS, KpiProbe
from worker import build_worker
from workflows.kit.experiments import assign
from workflows.registry import JOURNEYS


def test_the_intervals_and_tests_match_published_values() -> None:
    # Wilson's interval for 10 of 100 (Newcombe 1998, table I): 0.0552 to 0.1744.
    low, high = st.wilson(10, 100)
    assert (round(low, 4), round(high, 4)) == (0.0552, 0.1744)
    assert (low, high) == proportion_confint(10, 100, method="wilson")
    # The two-proportion z-test equals the uncorrected chi-square test of the 2x2 table.
    p = st.two_proportion_p(45, 100, 30, 100)
    assert p == pytest.approx(chi2_contingency([[45, 55], [30, 70]], correction=False)[1], rel=1e-9)
    assert round(p, 4) == 0.0285
    assert st.two_proportion_p(0, 50, 0, 50) is None and st.two_proportion_p(1, 0, 1, 10) is None
    # Newcombe's hybrid score interval for 56/70 - 48/80 (his example): 0.0524 to 0.3339.
    lifted = st.lift((56, 70), (48, 80))
    assert round(lifted.difference, 4) == 0.2
    assert tuple(round(x, 4) for x in lifted.interval) == (0.0524, 0.3339)


def test_the_probability_of_being_best_matches_simulation() -> None:
    groups = [(45, 100), (30, 100), (40, 100)]
    exact = st.probability_best(groups)
    draws = np.random.default_rng(7).beta([1 + c for c, _ in groups], [1 + n - c for c, n in groups], size=(400_000, 3))
    simulated = np.bincount(draws.argmax(axis=1), minlength=3) / len(draws)
    assert sum(exact) == pytest.approx(1.0)
    assert exact == pytest.approx(simulated.tolist(), abs=0.005)
    assert st.probability_best([(5, 10), (5, 10)]) == pytest.approx([0.5, 0.5], abs=1e-6)


def test_a_small_sample_says_so() -> None:
    assert st.too_small([(3, 20), (5, 20)]).startswith("too small a sample to say anything: a group has 20 entries")
    assert "3 conversions of 100" in st.too_small([(3, 100), (40, 100)])
    assert st.too_small([(30, 100), (40, 100)]) is None


@pytest.fixture
async def api(env: Any, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions, extra_workflows=[KpiProbe]), \
            open_api(settings, env.client, journeys=(*JOURNEYS, *TEST_JOURNEYS)) as opened:
        yield opened


async def stats(api: Api) -> dict[str, Any]:
    response = await api.operator("GET", "/v1/journeys/probe_kpis/stats")
    assert response.status_code == 200, response.text
    return response.json()


async def test_kpis_funnel_experiments_and_export(api: Api, customer_id: str) -> None:
    before = await stats(api)  # the other database's run of this test is not in this one
    shoppers = [f"{customer_id}-{n}" for n in range(8)]
    for who in shoppers:
        await api.track(who, "KPI Probe")
    await api.track(f"{customer_id}-bow", "KPI Probe", {"bow_out": True})  # ended early: out of every KPI
    anon = f"anon-{customer_id}"
    await api.post("/v1/track", {"anonymousId": anon, "event": "KPI Probe", "messageId": str(uuid.uuid4())})
    for who in [*shoppers, f"{customer_id}-bow", f"anonymous:{anon}"]:
        handle = api.client.get_workflow_handle(KpiProbe.spec.workflow_id(who))
        for _ in range(200):  # its entry (and end) recorded
            state = await handle.query("state")
            if state["step"] == "ended_early" or state["sends"]:
                break
            await asyncio.sleep(0.02)
    now = datetime.now(UTC)
    # Two add to cart (one of them twice: counted once); three order, with revenue;
    # one orders too late (8 days on: out of the 7-day window); the visitor orders once signed in.
    await api.track(shoppers[0], "Product Added", {"product_id": "p"})
    await api.track(shoppers[0], "Product Added", {"product_id": "q"})
    await api.track(shoppers[1], "Product Added", {"product_id": "p"})
    await api.track(shoppers[0], "Order Completed", {"order_id": "o0", "revenue": 40})
    await api.track(shoppers[0], "Order Completed", {"order_id": "o0b", "revenue": 99})  # the same entry: once
    await api.track(shoppers[2], "Order Completed", {"order_id": "o2", "revenue": 20})
    await api.track(shoppers[3], "Order Completed", {"order_id": "o3", "revenue": 15},
                    timestamp=(now + timedelta(days=8)).isoformat())
    await api.track(f"{customer_id}-bow", "Order Completed", {"order_id": "ob", "revenue": 500})
    await api.post("/v1/identify", {"userId": f"{customer_id}-known", "anonymousId": anon,
                                    "messageId": str(uuid.uuid4())})
    await api.track(f"{customer_id}-known", "Order Completed", {"order_id": "oa", "revenue": 30})
    after = await stats(api)

    kpis = {k["kpi"]: k for k in after["kpis"]}
    was = {k["kpi"]: k for k in before["kpis"]}
    order, cart = kpis["conversion rate"], kpis["add-to-cart rate"]
    assert order["entries"] - was["conversion rate"]["entries"] == 9  # eight shoppers and the visitor
    assert order["conversions"] - was["conversion rate"]["conversions"] == 3  # shoppers 0 and 2, and the visitor
    assert order["revenue"] - (was["conversion rate"]["revenue"] or 0) == 90.0  # 40 + 20 + 30
    assert cart["conversions"] - was["add-to-cart rate"]["conversions"] == 2
    assert order["interval"] == list(st.wilson(order["conversions"], order["entries"]))
    assert order["average_value"] == round(order["revenue"] / order["conversions"], 2)

    stages = {s["stage"]: s for s in after["funnel"]}
    old = {s["stage"]: s for s in before["funnel"]}
    assert stages["entered"]["count"] - old["entered"]["count"] == 10
    assert stages["ended early"]["count"] - old["ended early"]["count"] == 1
    teasers = [s for s in after["funnel"] if s.get("step")]
    assert {s["stage"] for s in teasers} <= {"teaser_a", "teaser_b"} and sum(s["sends"].get("sent", 0) for s in teasers) >= 9

    [headline] = [e for e in after["experiments"] if e["experiment"] == "headline"]
    assert headline["reference"] == "a" and headline["warning"].startswith("too small a sample")
    mine = {v["variant"]: v for v in headline["variants"]}
    expected = {"a": 0, "b": 0}
    for who in [*shoppers, anon]:
        expected[assign(who, "headline", {"a": 1, "b": 1})] += 1
    olds = {v["variant"]: v["entries"] for e in before["experiments"] if e["experiment"] == "headline"
            for v in e["variants"]}
    assert {v: mine[v]["entries"] - olds.get(v, 0) for v in mine} == {v: n for v, n in expected.items() if n or v in mine}
    b = next(k for k in mine.get("b", mine["a"])["kpis"] if k["kpi"] == "conversion rate")
    a = next(k for k in mine["a"]["kpis"] if k["kpi"] == "conversion rate")
    if "b" in mine:
        assert b["p_value"] == st.two_proportion_p(b["conversions"], mine["b"]["entries"], a["conversions"],
                                                   mine["a"]["entries"])
        assert a["probability_best"] + b["probability_best"] == pytest.approx(1.0)

    exported = await api.http.get("/v1/journeys/probe_kpis/stats.csv",
                                  headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["section"] for r in rows} >= {"kpi", "funnel", "step", "variant"}
    [conversion] = [r for r in rows if r["section"] == "kpi" and r["name"] == "conversion rate"]
    assert int(conversion["count"]) == order["conversions"] and float(conversion["revenue"]) == order["revenue"]
    assert (await api.http.get("/v1/journeys/probe_kpis/stats.csv")).status_code == 401


@hsettings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st_text(min_size=1, max_size=80), secret=st_text(st_characters(min_codepoint=0x20, max_codepoint=0x7E),
                                                           max_size=60))
async def test_no_stats_page_or_export_gets_a_5xx(api: Api, name: str, secret: str) -> None:
    from urllib.parse import quote

    from tests.conftest import basic

    for path in (f"/v1/journeys/{quote(name, safe='')}/stats.csv", f"/dashboard/journeys/{quote(name, safe='')}"):
        answer = await api.http.get(path, headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
        assert answer.status_code in (200, 404), (path, answer.status_code)
    for headers in ({"Authorization": basic(secret)}, {"Authorization": f"Basic {secret}"},
                    {"Authorization": f"Bearer {secret}"}):
        assert (await api.http.get("/dashboard", headers=headers)).status_code in (200, 401)
        assert (await api.http.get("/metrics", headers=headers)).status_code in (200, 401)
