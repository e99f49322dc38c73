"""Home-page stories (the guide's InStory): the marketer's stories, ordered by the
categories she views, drawn by sojourn.js at the top of the home page in Chromium; its
impressions and taps, and the product pages opened after a tap, are the home_stories
journey's KPIs, worked out by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Event
from sojourn.ground.settings import Settings
from tests.conftest import OPERATOR_KEY, SERVER_KEY, WRITE_KEY, Api, basic, browser_of, keep_history
from tests.support.browser import Shop, shop_and_api, signed_in
from tests.test_kpi_definitions import enter, rate, tell
from workflows.journeys.home_stories import HomeStories

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


async def stock(http: httpx.AsyncClient, tag: str) -> dict[str, str]:
    """Four stories in the marketer's order: a sale, eyes, lips, skincare; and a catalog."""
    ids = {name: f"{name}-{tag}" for name in ("sale", "eyes", "lips", "skin")}
    for position, (name, category) in enumerate((("sale", None), ("eyes", "eyes"), ("lips", "lips"),
                                                 ("skin", "skincare"))):
        put = await http.put(f"/v1/stories/{ids[name]}", headers=OPERATOR, json={
            "title": name.title(), "kind": "campaign" if name == "sale" else "collection",
            "url": f"https://beauty.test/c/{name}", "image_url": f"https://beauty.test/i/{name}.jpg",
            "category": category, "position": position})
        assert put.status_code == 204, put.text
    for product, category in (("lipstick", "lips"), ("liner", "lips"), ("serum", "skincare")):
        fed = await http.put(f"/v1/products/{product}-{tag}", json={"name": product, "category": category},
                             auth=(SERVER_KEY, ""))
        assert fed.status_code == 204
    return ids


def mine(stories: list[dict[str, Any]], ids: dict[str, str]) -> list[str]:
    return [s["story_id"] for s in stories if s["story_id"] in ids.values()]


async def test_her_stories_come_in_the_order_of_what_she_views(api: Api, customer_id: str) -> None:
    ids = await stock(api.http, customer_id)
    before = (await api.http.get(f"/v1/customers/{customer_id}/stories", headers=browser_of(customer_id))).json()
    assert mine(before["stories"], ids) == [ids["sale"], ids["eyes"], ids["lips"], ids["skin"]], "the marketer's order"
    # She views the serum, then two lip products: lips (2 views) first, then skincare (1).
    for product in ("serum", "lipstick", "liner"):
        await api.track(customer_id, "Product Viewed", {"product_id": f"{product}-{customer_id}"})
    after = (await api.http.get(f"/v1/customers/{customer_id}/stories", headers=browser_of(customer_id))).json()
    assert mine(after["stories"], ids) == [ids["lips"], ids["skin"], ids["sale"], ids["eyes"]]
    assert (after["journey"], after["placement"]) == ("home_stories", "stories")

    refused = await api.http.put(f"/v1/stories/{ids['sale']}", json={"title": "x", "kind": "campaign",
                                                                     "url": "https://beauty.test/"},
                                 auth=(WRITE_KEY, ""))
    assert refused.status_code == 401, "the marketer's stories need the operator key"
    for field, body in (("kind", {"kind": "banner", "url": "https://beauty.test/"}),
                        ("url", {"kind": "campaign", "url": "javascript:alert(1)"})):
        bad = await api.http.put(f"/v1/stories/{ids['sale']}", headers=OPERATOR, json={"title": "x", **body})
        assert bad.status_code == 400 and f"{field}:" in bad.text, bad.text
    assert (await api.http.delete(f"/v1/stories/{ids['eyes']}", headers=OPERATOR)).status_code == 204
    gone = (await api.http.get(f"/v1/customers/{customer_id}/stories", headers=browser_of(customer_id))).json()
    assert ids["eyes"] not in mine(gone["stories"], ids)
    assert (await api.http.get(f"/v1/customers/{customer_id}/stories", auth=(WRITE_KEY, ""))).status_code == 403


async def test_the_kpis_count_taps_and_the_product_pages_after_them(api: Api, sessions: Any,
                                                                      customer_id: str) -> None:
    """Ten entries; eight shown the stories; three tapped one, two of whom opened a
    product page after the tap; one opened a product page without tapping; one tapped
    another journey's message. By hand: story tap rate 3/8, home-to-product 2/8."""
    who = [f"{customer_id}-{n}" for n in range(10)]
    ids = await enter(sessions, "home_stories", who)
    for c in who[:8]:
        await tell(api, c, "Onsite Message Viewed", journey="home_stories", placement="stories")
    for c in who[:3]:
        await tell(api, c, "Onsite Message Clicked", journey="home_stories", story_id="sale")
    for c in who[:2]:
        await tell(api, c, "Product Viewed", product_id="p-1")
    await tell(api, who[4], "Product Viewed", product_id="p-1")
    await tell(api, who[5], "Onsite Message Clicked", journey="lead_capture")
    assert await rate(sessions, "home_stories", "story tap rate", ids) == (3, 8)
    assert await rate(sessions, "home_stories", "home-to-product click-through rate", ids) == (2, 8)


HOME = """<!doctype html>
<html><head><meta charset="utf-8"><title>Beauty Shop</title><script src="{api}/v1/sojourn.js"></script></head>
<body><div data-sojourn-stories></div><h1>New in</h1></body></html>"""


@pytest.fixture
async def shop(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Shop]:
    origin: dict[str, str] = {}

    async def home(_: Any) -> HTMLResponse:
        return HTMLResponse(HOME.format(api=origin["url"]))

    async with shop_and_api(Starlette(routes=[Route("/", home)]), settings, env.client) as opened:
        origin["url"] = opened.api
        yield opened


async def test_the_stories_at_the_top_of_the_home_page_in_chromium(env: WorkflowEnvironment, shop: Shop,
                                                                   sessions: Any, worker: Any,
                                                                   customer_id: str) -> None:
    async with httpx.AsyncClient(base_url=shop.api) as http:
        ids = await stock(http, customer_id)
        view = {"userId": customer_id, "event": "Product Viewed", "messageId": f"v-{customer_id}",
                "properties": {"product_id": f"lipstick-{customer_id}"}}
        assert (await http.post("/v1/track", json=view, headers={"Authorization": basic(SERVER_KEY)})).status_code == 200
        home = {"userId": customer_id, "name": "Home", "properties": {"path": "/"}, "messageId": f"h-{customer_id}"}
        assert (await http.post("/v1/page", json=home, headers={"Authorization": basic(SERVER_KEY)})).status_code == 200
    handle = env.client.get_workflow_handle(HomeStories.spec.workflow_id(customer_id))
    for _ in range(200):
        try:
            await handle.describe()
            break
        except Exception:  # noqa: BLE001 - not started yet
            await asyncio.sleep(0.05)
    context, page = await signed_in(shop, "/", customer_id, ".then(() => Sojourn.stories())")
    try:
        await page.wait_for_selector(".sojourn-story", timeout=10_000)
        shown = await page.eval_on_selector_all("[data-sojourn-story]", "a => a.map(e => e.dataset.sojournStory)")
        assert [s for s in shown if s in ids.values()][0] == ids["lips"], "what she views first"
        assert await page.evaluate("document.querySelector('[data-sojourn-stories]').getBoundingClientRect().top"
                                   " < document.querySelector('h1').getBoundingClientRect().top"), "at the top"
        await page.route("https://beauty.test/**", lambda route: route.fulfill(body="<h1>Lips</h1>"))
        await page.click(f'[data-sojourn-story="{ids["lips"]}"]')
        await page.wait_for_url("https://beauty.test/c/lips")
    finally:
        await context.close()
    for _ in range(200):
        state = await handle.query("state")
        if any(f"stories: tapped {ids['lips']}" in line for line in state["timeline"]):
            break
        await asyncio.sleep(0.05)
    assert any(f"stories: tapped {ids['lips']}" in line for line in state["timeline"]), state["timeline"]
    async with sessions() as session:
        told = (await session.execute(select(Event.name, Event.properties).where(
            Event.customer_id == customer_id, Event.name.like("Onsite Message %")).order_by(Event.id))).all()
    told = [(name, props) for name, props in told if props.get("journey") == "home_stories"]
    assert [name for name, _ in told] == ["Onsite Message Viewed", "Onsite Message Clicked"], told
    assert told[1][1]["story_id"] == ids["lips"]
    assert [s for s in told[0][1]["stories"] if s in ids.values()][0] == ids["lips"]
    await env.fast_forward(handle, timedelta(hours=2))
    result = await handle.result()
    assert result["outcome"] == "completed" and result["sends"] == {}, result
    await keep_history(handle, "home_stories_tapped")
