"""Product discovery below a product's information, as the guide places it: bought
together, you may also like, similar products, similar categories, previously viewed.
Similar products and categories are worked out by hand on a small shop; sojourn.js
draws the block in Chromium and reports its impression and clicks as the journey's,
which its KPI counts (by hand, too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.settings import Settings
from tests.conftest import SERVER_KEY, WRITE_KEY, Api, browser_of, open_api
from tests.support.browser import Shop, shop_and_api, signed_in
from tests.test_kpi_definitions import enter, rate, tell
from tests.test_recommendations import refresh
from worker import build_worker

CATEGORIES = {"serum": "skincare", "toner": "skincare", "cream": "skincare", "mask": "skincare",
              "lipstick": "lips", "liner": "lips", "mascara": "eyes", "shadow": "eyes"}
BASKETS = ([["serum", "toner"]] * 3 + [["serum", "lipstick"]] * 2 + [["cream", "liner"]] * 2 + [["liner"], ["cream"]]
           + [["mask", "mascara"]] * 2 + [["mascara"]] * 3)


async def stock(http: Any, post: Any, tag: str) -> dict[str, str]:
    """The shop's feed (names, links, categories) and its orders, with product ids of its own.
    By hand: serum sells with toner (Jaccard 3/5) and lipstick (2/5); cream with liner
    (2/4); mask with mascara (2/5). Orders: serum 5, mascara 5, toner 3, cream 3,
    liner 3, lipstick 2, mask 2, shadow none."""
    ids = {name: f"{name}-{tag}" for name in CATEGORIES}
    for name, category in CATEGORIES.items():
        fed = await http.put(f"/v1/products/{ids[name]}", json={  # categories of its own: the database is shared
            "name": name.title(), "price": 10, "url": f"https://beauty.test/p/{ids[name]}",
            "category": f"{category}-{tag}"}, auth=(SERVER_KEY, ""))
        assert fed.status_code == 204, fed.text
    for n, basket in enumerate(BASKETS):
        await post(f"buyer-{tag}-{n}", "Order Completed", {"order_id": f"o-{tag}-{n}",
                                                            "products": [{"product_id": ids[p]} for p in basket]})
    return ids


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as opened:
        yield opened


async def test_similar_products_and_categories(api: Api, settings: Settings, customer_id: str) -> None:
    ids = await stock(api.http, api.track, customer_id)
    await refresh(api, settings)
    similar = (await api.http.get(f"/v1/products/{ids['serum']}/recommendations",
                                  params={"kind": "similar_products"}, auth=(WRITE_KEY, ""))).json()
    # Skincare: the toner sells with the serum; then the most ordered, the cream (3) before the mask (2).
    assert [p["product_id"] for p in similar["products"]] == [ids["toner"], ids["cream"], ids["mask"]]

    # Lisa bought the mascara and looked at the toner; now she is on the serum's page.
    await api.track(customer_id, "Order Completed", {"order_id": f"lisa-{customer_id}",
                                                     "products": [{"product_id": ids["mascara"]}]})
    await api.track(customer_id, "Product Viewed", {"product_id": ids["toner"]})
    page = (await api.http.get(f"/v1/customers/{customer_id}/product-page/{ids['serum']}",
                               headers=browser_of(customer_id))).json()
    assert (page["journey"], page["step"], page["placement"]) == ("product_discovery", "product_page", "product_page")
    sections = {s["kind"]: s for s in page["sections"]}
    assert list(sections) == ["frequently_bought_together", "you_may_also_like", "similar_products",
                              "similar_categories", "previously_viewed"], "the guide's order"
    assert [p["product_id"] for p in sections["frequently_bought_together"]["products"][:2]] == [
        ids["toner"], ids["lipstick"]]
    assert [p["product_id"] for p in sections["similar_products"]["products"]] == [
        ids["toner"], ids["cream"], ids["mask"]]
    # Skincare's shoppers buy lips (serum-lipstick 0.4 + cream-liner 0.5) more than eyes
    # (mask-mascara 0.4); liner is ordered more than lipstick; the mascara is hers already.
    assert [(c["category"], [p["product_id"] for p in c["products"]])
            for c in sections["similar_categories"]["categories"]] == [
        (f"lips-{customer_id}", [ids["liner"], ids["lipstick"]]), (f"eyes-{customer_id}", [ids["shadow"]])]
    assert [p["product_id"] for p in sections["previously_viewed"]["products"]] == [ids["toner"]]
    assert sections["similar_products"]["products"][0]["name"] == "Toner"
    everything = [p["product_id"] for s in page["sections"]
                  for p in s.get("products", []) + [q for c in s.get("categories", []) for q in c["products"]]]
    assert ids["serum"] not in everything and ids["mascara"] not in everything

    stranger = await api.http.get(f"/v1/customers/{customer_id}/product-page/{ids['serum']}", auth=(WRITE_KEY, ""))
    assert stranger.status_code == 403, "her viewed and bought products are hers"


async def test_its_click_through_is_taps_per_block_seen(api: Api, sessions: Any, customer_id: str) -> None:
    """Eight entries: six were shown the block (or the slot), two of them tapped a product
    in it; one tapped another journey's slot. By hand: 2 of 6."""
    who = [f"{customer_id}-{n}" for n in range(8)]
    ids = await enter(sessions, "product_discovery", who)
    for c in who[:6]:
        await tell(api, c, "Onsite Message Viewed", journey="product_discovery", step="product_page",
                   placement="product_page")
    for c in who[:2]:
        await tell(api, c, "Onsite Message Clicked", journey="product_discovery", step="product_page",
                   placement="product_page", clicked_product_id="p-1")
    await tell(api, who[2], "Onsite Message Clicked", journey="first_purchase_incentive")
    assert await rate(sessions, "product_discovery", "recommendation click-through rate", ids) == (2, 6)


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Serum</title><script src="{api}/v1/sojourn.js"></script></head>
<body><h1>Serum</h1><p class="product-information">A light serum.</p>
<div data-sojourn-product-page="{product}"></div></body></html>"""


@pytest.fixture
async def shop(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Shop]:
    origin: dict[str, str] = {}

    async def product(request: Any) -> HTMLResponse:
        return HTMLResponse(PAGE.format(api=origin["url"], product=request.path_params["product_id"]))

    shop_app = Starlette(routes=[Route("/p/{product_id}", product)])
    async with shop_and_api(shop_app, settings, env.client) as opened:
        origin["url"] = opened.api
        yield opened


async def test_the_product_page_block_in_chromium(env: WorkflowEnvironment, shop: Shop, sessions: Any,
                                                  settings: Settings, worker: Any, customer_id: str) -> None:
    import asyncio
    import uuid

    import httpx
    from sqlalchemy import select

    from sojourn.ground.models import Event
    from workflows.upkeep.recommendations_refresh import RecommendationsRefresh

    async with httpx.AsyncClient(base_url=shop.api) as http:
        async def post(user: str, event: str, properties: dict[str, Any]) -> None:
            body = {"userId": user, "event": event, "properties": properties, "messageId": f"m-{user}-{event}"}
            assert (await http.post("/v1/track", json=body, auth=(SERVER_KEY, ""))).status_code == 200

        ids = await stock(http, post, customer_id)
    await env.client.execute_workflow(RecommendationsRefresh.run, id=f"recs-{uuid.uuid4()}",
                                      task_queue=settings.task_queue)
    context, page = await signed_in(shop, f"/p/{ids['serum']}", customer_id, ".then(() => Sojourn.productPage())")
    try:
        await page.wait_for_selector('[data-sojourn-section="similar_categories"]', timeout=10_000)
        # Below the product's information, in the guide's order.
        kinds = await page.eval_on_selector_all("[data-sojourn-section]", "s => s.map(e => e.dataset.sojournSection)")
        assert kinds[:1] == ["frequently_bought_together"] and "similar_products" in kinds, kinds
        assert await page.evaluate("document.querySelector('.product-information').compareDocumentPosition("
                                   "document.querySelector('.sojourn-product-page')) & 4") == 4
        await page.route("https://beauty.test/**", lambda route: route.fulfill(body="<h1>Cream</h1>"))
        await page.click(f'[data-sojourn-section="similar_products"] [data-sojourn-product="{ids["cream"]}"]')
        await page.wait_for_url(f"https://beauty.test/p/{ids['cream']}")
    finally:
        await context.close()
    for _ in range(100):
        async with sessions() as session:
            told = (await session.execute(select(Event.name, Event.properties).where(
                Event.customer_id == customer_id, Event.name.like("Onsite Message %")).order_by(Event.id))).all()
        if len(told) >= 2:
            break
        await asyncio.sleep(0.05)
    assert [name for name, _ in told] == ["Onsite Message Viewed", "Onsite Message Clicked"], told
    clicked = told[1][1]
    assert {k: clicked[k] for k in ("journey", "step", "placement", "product_id", "section", "clicked_product_id")} == {
        "journey": "product_discovery", "step": "product_page", "placement": "product_page",
        "product_id": ids["serum"], "section": "similar_products", "clicked_product_id": ids["cream"]}
