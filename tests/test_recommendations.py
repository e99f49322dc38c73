"""Recommendations: co-occurrence from orders (bought together) and views (also
viewed), popular as the fallback, her filters (bought, in the cart, the brand's
exclusions); refreshed by the scheduled workflow into tables, served to the
storefront and shown in the cart email. Quality on a generated shop: bench/recommendations.py."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select
from temporalio.client import ScheduleIntervalSpec
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Event, aware, utcnow
from sojourn.ground.schedules import ensure_schedules
from sojourn.ground.settings import Settings
from sojourn.intelligence import catalog
from sojourn.intelligence.recommendations import blend, counts, popular, related
from tests.conftest import SERVER_KEY, WRITE_KEY, Api, basic, browser_of, open_api
from tests.support.smtp import Inbox
from worker import build_worker, watched
from workflows.journeys.cart_abandonment import CartAbandonment
from workflows.upkeep.recommendations_refresh import RecommendationsRefresh

ATTACKER = {"Authorization": basic(WRITE_KEY)}


def test_pairs_are_scored_by_jaccard_above_a_minimum_support() -> None:
    items, pairs, n = counts([["serum", "toner"], ["serum", "toner", "mask"], ["serum"], ["mask", "lip"], []])
    assert (n, items["serum"], pairs[("serum", "toner")]) == (4, 3, 2)
    table = related(items, pairs, n)
    [toner] = table["serum"]
    assert (toner.product_id, round(toner.score, 3), toner.together) == ("toner", 0.667, 2)  # 2 / (3 + 2 - 2)
    assert round(toner.lift, 3) == round(2 * 4 / (3 * 2), 3)
    assert "mask" not in {s.product_id for s in table.get("lip", [])}, "a pair seen once is noise"
    assert popular(items) == ["serum", "mask", "toner", "lip"]


def test_her_seeds_add_up_and_the_filters_hold() -> None:
    items, pairs, n = counts([["a", "b"], ["a", "b"], ["c", "b"], ["c", "b"], ["c", "d"], ["c", "d"], ["c", "d"]])
    table = related(items, pairs, n)
    # b goes with both a and c: it ranks first for a shopper holding both.
    assert blend(["a", "c"], table, ["z"], limit=3) == ["b", "d", "z"]
    assert blend(["a", "c"], table, ["z", "b"], exclude={"b"}, limit=3) == ["d", "z"]
    assert blend(["nothing-known"], table, ["z", "y"], limit=5) == ["z", "y"], "popular fills in"
    assert blend(["a"], table, ["a", "b"], limit=0) == []


PRODUCTS = {
    "serum": {"name": "Glow Serum", "price": 32},
    "toner": {"name": "Rose Toner", "price": 18},
    "lipstick": {"name": "Velvet Lipstick", "price": 24},
    "liner": {"name": "Lip Liner", "price": 12},
    "mascara": {"name": "Volume Mascara", "price": 19},
    "sample": {"name": "Free Sample", "price": 0},
}


async def shop(api: Api, tag: str) -> dict[str, str]:
    """A small shop's history, with its own product ids: serum goes with toner, lipstick
    with liner, mascara sells on its own, the free sample goes with everything."""
    ids = {name: f"{name}-{tag}" for name in PRODUCTS}
    for name, product in PRODUCTS.items():
        await api.track(f"viewer-{tag}", "Product Viewed", {"product_id": ids[name], **product,
                                                             "url": f"https://beauty.test/p/{ids[name]}"})
    baskets = [["serum", "toner", "sample"]] * 3 + [["lipstick", "liner", "sample"]] * 2 + [["mascara"]] * 4
    for n, basket in enumerate(baskets):
        await api.track(f"buyer-{tag}-{n}", "Order Completed", {
            "order_id": f"o-{tag}-{n}", "products": [{"product_id": ids[p], "quantity": 1} for p in basket]})
    return ids


async def refresh(api: Api, settings: Settings) -> Any:
    return await api.client.execute_workflow(RecommendationsRefresh.run, id=f"recs-{uuid.uuid4()}",
                                             task_queue=settings.task_queue)


async def test_the_storefront_and_the_cart_email_get_them(env: WorkflowEnvironment, settings: Settings,
                                                          sessions: Any, inbox: Inbox, customer_id: str) -> None:
    tag = customer_id
    excluded = settings.model_copy(update={"recommend_exclude": [f"sample-{tag}"]})
    async with build_worker(env.client, excluded, sessions), open_api(excluded, env.client) as api:
        ids = await shop(api, tag)
        result = await refresh(api, excluded)
        assert result.orders >= 9 and result.relations > 0 and result.products >= 6

        # A product page: serum's companion is toner; the brand's excluded sample never shows.
        page = await api.http.get(f"/v1/products/{ids['serum']}/recommendations", headers=ATTACKER)
        assert page.status_code == 200, page.text
        shown = page.json()["products"]
        assert shown[0] == {"product_id": ids["toner"], "name": "Rose Toner", "price": 18.0,
                            "url": f"https://beauty.test/p/{ids['toner']}", "image_url": None, "category": None}
        assert ids["sample"] not in {p["product_id"] for p in shown}

        # Her own: she bought the serum and looked at the lipstick; the toner and the
        # liner are for her, not the serum (bought), nor the lipstick once it is in her cart.
        await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                          "firstName": "Ada"}})
        await api.track(customer_id, "Order Completed", {"order_id": f"mine-{tag}",
                                                         "products": [{"product_id": ids["serum"]}]})
        await api.track(customer_id, "Product Viewed", {"product_id": ids["lipstick"], **PRODUCTS["lipstick"]})
        mine = f"/v1/customers/{customer_id}/recommendations"
        assert (await api.http.get(mine, headers=ATTACKER)).status_code == 403, "her data: her proof"
        liked = (await api.http.get(mine, params={"cart": ids["lipstick"], "limit": 3},
                                    headers=browser_of(customer_id))).json()["products"]
        liked_ids = [p["product_id"] for p in liked]
        assert liked_ids[:2] == [ids["liner"], ids["toner"]] or liked_ids[:2] == [ids["toner"], ids["liner"]]
        assert not {ids["serum"], ids["lipstick"], ids["sample"]} & set(liked_ids)
        before = (await api.http.get(mine, params={"kind": "previously_viewed"},
                                     headers=browser_of(customer_id))).json()["products"]
        assert [p["product_id"] for p in before] == [ids["lipstick"]]

        # The cart email: "You may also like", with the liner she never saw.
        await api.track(customer_id, "Product Added", {"product_id": ids["lipstick"], **PRODUCTS["lipstick"]})
        handle = api.client.get_workflow_handle(CartAbandonment.spec.workflow_id(customer_id))
        await env.fast_forward(handle, timedelta(days=1, minutes=1))
        [mail] = inbox.to(customer_id)
        text = mail.get_body(("plain",)).get_content()
        assert "You may also like:" in text and "- Lip Liner: https://beauty.test/p/" in text, text
        # Never the brand's excluded sample, nor what is in her cart (other tests' shops
        # share the database: their own samples may be popular, so ids, not names).
        assert f"/p/{ids['sample']}" not in text and f"/p/{ids['lipstick']}" not in text.split("You may also like:")[1]
        assert f"https://beauty.test/p/{ids['liner']}" in mail.get_body(("html",)).get_content(), "a product link, untracked"


async def test_the_refresh_is_a_schedule(env: WorkflowEnvironment, settings: Settings) -> None:
    schedule_id = f"recs-schedule-{uuid.uuid4()}"
    every = settings.model_copy(update={"recommend_refresh_seconds": 900})
    await ensure_schedules(env.client, every, watched(()), schedule_id=f"sweep-{uuid.uuid4()}",
                           recommendations_id=schedule_id, audiences_id=None)
    handle = env.client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
        [interval] = described.schedule.spec.intervals
        assert interval == ScheduleIntervalSpec(every=timedelta(seconds=900))
        assert described.schedule.action.workflow == "RecommendationsRefresh"
    finally:
        await handle.delete()


@hsettings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(product=st.text(min_size=1, max_size=300), kind=st.text(max_size=30),
       limit=st.one_of(st.integers(min_value=-5, max_value=10**20).map(str), st.text(max_size=5)),
       cart=st.lists(st.text(max_size=50), max_size=60))
async def test_no_recommendation_query_gets_a_5xx(api: Api, product: str, kind: str, limit: str, cart: list[str]) -> None:
    answer = await api.http.get(f"/v1/products/{quote(product, safe='')}/recommendations",
                                params={"kind": kind, "limit": limit}, headers=ATTACKER)
    assert answer.status_code in (200, 400, 404, 422), answer.text
    hers = await api.http.get("/v1/customers/someone/recommendations", params={"kind": kind, "limit": limit,
                                                                              "cart": cart},
                              headers=browser_of("someone"))
    assert hers.status_code in (200, 400, 422), hers.text


async def test_a_browser_cant_rewrite_the_catalog_or_rank_popularity(env: WorkflowEnvironment, settings: Settings,
                                                                      sessions: Any, customer_id: str) -> None:
    """#26.7: with the write key, one future-dated "Product Viewed" put the attacker's
    link and image into every recommendation for good, and fake browser orders made a
    product "popular". Now the catalog comes from the shop's backend (its events or the
    product feed), a browser's call happens no later than it was received, and the
    backend's orders are the ones that rank."""
    tag = customer_id
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as api:
        ids = await shop(api, tag)  # the shop's backend: names, links, orders
        poison = {"type": "track", "anonymousId": f"attacker-{tag}", "event": "Product Viewed",
                  "messageId": str(uuid.uuid4()), "timestamp": "2099-12-31T00:00:00Z",
                  "properties": {"product_id": ids["toner"], "name": "WIN A PRIZE", "price": 0,
                                 "url": "https://evil.test/win", "image_url": "https://evil.test/pixel.gif"}}
        assert (await api.http.post("/v1/t", json={**poison, "writeKey": WRITE_KEY})).status_code == 200
        fake_orders = [{"type": "track", "anonymousId": f"attacker-{tag}-{n}", "event": "Order Completed",
                        "messageId": str(uuid.uuid4()),
                        "properties": {"order_id": f"fake-{tag}-{n}", "products": [{"product_id": f"junk-{tag}"}]}}
                       for n in range(12)]
        assert (await api.http.post("/v1/b", json={"batch": fake_orders, "writeKey": WRITE_KEY})).status_code == 200
        await api.settled()
        async with sessions() as session:
            stored = await session.scalar(select(Event.timestamp).where(Event.message_id == poison["messageId"]))
        assert aware(stored) < utcnow() + timedelta(minutes=5), "as received, not 2099"
        await refresh(api, settings)
        page = (await api.http.get(f"/v1/products/{ids['serum']}/recommendations", headers=ATTACKER)).json()
        toner = next(p for p in page["products"] if p["product_id"] == ids["toner"])
        assert (toner["name"], toner["url"]) == ("Rose Toner", f"https://beauty.test/p/{ids['toner']}")
        assert toner["image_url"] is None
        async with sessions() as session:
            assert f"junk-{tag}" not in await catalog.popular(session), "browser orders don't rank"

        # The product feed (a server key only) says what a product is; events don't override it.
        feed = {"name": "Rose Toner 200 ml", "price": 21.0, "url": f"https://beauty.test/p/{ids['toner']}",
                "image_url": "https://cdn.beauty.test/toner.jpg"}
        assert (await api.http.put(f"/v1/products/{ids['toner']}", json=feed, headers=ATTACKER)).status_code == 403
        assert (await api.http.put(f"/v1/products/{ids['toner']}", json=feed,
                                   headers={"Authorization": basic(SERVER_KEY)})).status_code == 204
        await api.track(f"viewer-{tag}", "Product Viewed", {"product_id": ids["toner"], "name": "Old Name"})
        await refresh(api, settings)
        page = (await api.http.get(f"/v1/products/{ids['serum']}/recommendations", headers=ATTACKER)).json()
        toner = next(p for p in page["products"] if p["product_id"] == ids["toner"])
        assert (toner["name"], toner["price"], toner["image_url"]) == ("Rose Toner 200 ml", 21.0,
                                                                       "https://cdn.beauty.test/toner.jpg")
