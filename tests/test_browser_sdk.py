"""Segment's browser SDK, the real @segment/analytics-next from npm, in headless
Chromium, on a shop page of its own origin, talking to Sojourn over real HTTP:
loaded without Segment's CDN (its settings come from Sojourn), sending one call at a
time and in batches, and refused by CORS on a page from an origin not allowed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from temporalio.testing import WorkflowEnvironment

from api.proof import customer_token
from sojourn.ground.models import Event
from sojourn.ground.settings import Settings
from tests.conftest import IDENTITY_SECRET, OPERATOR_KEY, WRITE_KEY
from tests.support.browser import Shop, sdk_dir, shop_and_api

SHOP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Beauty Shop</title>
<script src="/sdk/index.js"></script></head>
<body><h1>Velvet Lipstick</h1></body></html>"""

# What the shop's page runs: load analytics.js from Sojourn (cdnURL) and tell the
# story. Each call's promise settles once the SDK has delivered it (or given up).
STORY = """async ([writeKey, cdnURL, userId, token, batching]) => {
  // Her customer token, which the shop's backend signed for her, on every call; and
  // this browser's anonymous token, the proof that links its visitor to her.
  let anonymousToken = "";
  const headers = () => ({"X-Sojourn-Token": token, "X-Sojourn-Anonymous-Token": anonymousToken});
  const options = {integrations: {"Segment.io": {deliveryStrategy: batching
    ? {strategy: "batching", config: {size: 3, timeout: 200, headers}}
    : {strategy: "standard", config: {headers}}}}};
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({writeKey, cdnURL}, options);
  const anonymousId = analytics.user().anonymousId();
  const claimed = await fetch(cdnURL + "/v1/browser/anonymous-token", {method: "POST",
    headers: {"Authorization": "Basic " + btoa(writeKey + ":"), "Content-Type": "application/json"},
    body: JSON.stringify({anonymousId})});
  anonymousToken = (await claimed.json()).token;
  const delivered = [];
  for (const ctx of [
    await analytics.page("Product", "Velvet Lipstick"),
    await analytics.track("Product Viewed", {product_id: "lip-42", name: "Velvet Lipstick", price: 24}),
    await analytics.identify(userId, {email: userId + "@mail.test", firstName: "Lisa"}),
  ]) delivered.push(ctx.failedDelivery() ? String(ctx.failedDelivery().reason) : "ok");
  return {anonymousId, delivered};
}"""


def shop_app() -> Starlette:
    async def page(_: Any) -> HTMLResponse:
        return HTMLResponse(SHOP_PAGE)

    return Starlette(routes=[Route("/", page), Mount("/sdk", StaticFiles(directory=sdk_dir()))])


@pytest.fixture
async def shop(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Shop]:
    async with shop_and_api(shop_app(), settings, env.client) as opened:
        yield opened


async def stored(sessions: Any, anonymous_id: str) -> list[Event]:
    async with sessions() as session:
        return list((await session.scalars(
            select(Event).where(Event.anonymous_id == anonymous_id).order_by(Event.id))).all())


async def tell_the_story(shop: Shop, origin: str, user_id: str, *, batching: bool = False) -> dict[str, Any]:
    context = await shop.browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(origin + "/")
        return await page.evaluate(STORY, [WRITE_KEY, shop.api, user_id, customer_token(user_id, IDENTITY_SECRET),
                                           batching])
    finally:
        await context.close()


@pytest.mark.parametrize("batching", [False, True], ids=["one-call-at-a-time", "batches"])
async def test_analytics_js_sends_the_shops_events_to_sojourn(shop: Shop, sessions: Any, customer_id: str,
                                                             batching: bool) -> None:
    told = await tell_the_story(shop, shop.shop, customer_id, batching=batching)
    assert told["delivered"] == ["ok", "ok", "ok"], told
    events: list[Event] = []
    for _ in range(100):  # a batch leaves the page on its timer
        events = await stored(sessions, told["anonymousId"])
        if len(events) == 3:
            break
        await asyncio.sleep(0.1)
    assert [(e.type, e.name) for e in events] == [("page", "Velvet Lipstick"), ("track", "Product Viewed"),
                                                  ("identify", None)]
    page, viewed, identify = events
    assert viewed.properties == {"product_id": "lip-42", "name": "Velvet Lipstick", "price": 24}
    assert viewed.context["library"]["name"] == "analytics.js" and viewed.context["page"]["path"] == "/"
    assert page.context["userAgent"].startswith("Mozilla/5.0")
    assert identify.user_id == customer_id and identify.customer_id == customer_id
    assert len({e.message_id for e in events}) == 3
    # One request stores one transaction: a batch arrives together, single calls apart.
    assert len({e.received_at for e in events}) == (1 if batching else 3)
    async with httpx.AsyncClient(base_url=shop.api, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}) as http:
        profile = (await http.get(f"/v1/customers/{told['anonymousId']}")).json()
    assert (profile["id"], profile["linked_ids"]) == (customer_id, [f"anonymous:{told['anonymousId']}"]), \
        "the identify linked her browser's anonymous id to her"
    assert profile["facts"]["recently_viewed"] == ["lip-42"]


async def test_a_page_from_an_origin_not_allowed_cannot_use_the_api(shop: Shop, sessions: Any,
                                                                    customer_id: str) -> None:
    # Same shop, other origin (localhost is not 127.0.0.1 to a browser): CORS stops
    # the SDK at its first request, the settings it needs to start.
    context = await shop.browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(shop.shop.replace("127.0.0.1", "localhost") + "/")
        outcome = await page.evaluate("""async ([writeKey, cdnURL]) => {
          try { await AnalyticsNext.AnalyticsBrowser.load({writeKey, cdnURL}); return "loaded"; }
          catch (e) { return "refused: " + e; }
        }""", [WRITE_KEY, shop.api])
    finally:
        await context.close()
    assert outcome == "refused: TypeError: Failed to fetch", outcome


async def test_cors_answers_only_the_shops_origins(shop: Shop) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type,x-retry-count"}
    async with httpx.AsyncClient(base_url=shop.api) as http:
        allowed = await http.options("/v1/t", headers={"Origin": shop.shop, **preflight})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == shop.shop
        assert "access-control-allow-credentials" not in allowed.headers
        other = await http.options("/v1/t", headers={"Origin": "https://evil.example", **preflight})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
        answered = await http.get(f"/v1/projects/{WRITE_KEY}/settings", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in answered.headers, "a foreign page may not read it"


async def test_the_sdk_settings_point_at_sojourn_and_load_nothing_else(shop: Shop) -> None:
    async with httpx.AsyncClient(base_url=shop.api) as http:
        answer = (await http.get(f"/v1/projects/{WRITE_KEY}/settings")).json()
        segment = answer["integrations"]["Segment.io"]
        assert (segment["apiHost"], segment["protocol"]) == (shop.api.removeprefix("http://") + "/v1", "http")
        assert list(answer["integrations"]) == ["Segment.io"] and answer["remotePlugins"] == []
        assert answer["metrics"]["sampleRate"] == 0, "nothing is reported to Segment"
        assert (await http.get("/v1/projects/not-a-key/settings")).status_code == 404
