"""Her page (GET /v1/customers/{id}, /dashboard/customers/{id}): each journey she is in
with its step, why it waits and when it wakes next (one visibility call for all her
runs, and each running run's `state` query unless the shop keeps steps searchable),
what she was sent and did with it, her interests, best channel and hour,
consents and coupons; found by id or email; in Chromium, every number is the API's."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from api.routes.dashboard import when
from sojourn.ground.settings import Settings
from sojourn.ground.spec import JOURNEY_STEP, JOURNEY_WAKE_UP
from tests.conftest import MARKETER_KEY, OPERATOR_KEY, SERVER_KEY, basic, browser_of
from tests.support.browser import chromium, served_api, served_with_worker
from tests.test_ingest_fuzz import texts
from worker import build_worker

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


@pytest.fixture
async def shop(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[str]:
    async with build_worker(env.client, settings, sessions), served_api(env.client, settings) as origin:
        yield origin


async def lisa_shops(http: httpx.AsyncClient, who: str) -> None:
    """She browses lips most, skin once, puts a lipstick in her cart and asks to confirm
    her address."""
    backend = {"Authorization": basic(SERVER_KEY)}

    async def track(event: str, properties: dict[str, Any]) -> None:
        answer = await http.post("/v1/track", headers=backend, json={
            "userId": who, "event": event, "properties": properties, "messageId": str(uuid.uuid4())})
        assert answer.status_code == 200, answer.text

    assert (await http.post("/v1/identify", headers=backend, json={
        "userId": who, "traits": {"email": f"{who}@mail.test", "first_name": "Lisa"},
        "messageId": str(uuid.uuid4())})).status_code == 200
    for product, category in (("lip-1", "lips"), ("lip-2", "lips"), ("lip-1", "lips"), ("serum-1", "skin")):
        await track("Product Viewed", {"product_id": product, "category": category, "name": product.title()})
    await track("Product Added", {"product_id": "lip-1", "category": "lips", "name": "Lip-1", "price": 24})
    await track("Email Confirmation Requested", {})


async def her_answer(http: httpx.AsyncClient, who: str) -> dict[str, Any]:
    for _ in range(150):  # the router starts her runs, the worker sends the confirmation
        answer = await http.get(f"/v1/customers/{who}", headers=OPERATOR)
        assert answer.status_code == 200, answer.text
        her = answer.json()
        runs = {run["journey"]: run for run in her["journeys"]}
        if {"cart_abandonment", "email_confirmation"} <= set(runs) \
                and all(runs[j]["wakes_at"] for j in ("cart_abandonment", "email_confirmation")) \
                and [s["status"] for s in runs["email_confirmation"]["sends"]] == ["sent"]:
            return her
        await asyncio.sleep(0.2)
    raise AssertionError(f"her page never showed both runs waiting: {her['journeys']}")


@pytest.fixture
async def searchable_shop(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[str]:
    async with served_with_worker(env.client, settings, sessions, searchable_steps=True) as origin:
        yield origin


async def test_where_steps_are_searchable_her_page_reads_them_from_visibility(
        searchable_shop: str, env: WorkflowEnvironment, customer_id: str) -> None:
    async with httpx.AsyncClient(base_url=searchable_shop) as http:
        await lisa_shops(http, customer_id)
        her = await her_answer(http, customer_id)
    cart = next(run for run in her["journeys"] if run["journey"] == "cart_abandonment")
    described = await env.client.get_workflow_handle(cart["workflow_id"]).describe()
    assert described.typed_search_attributes.get(JOURNEY_STEP) == cart["step"] == \
        "she is in the shop: an hour after her last move"
    assert described.typed_search_attributes.get(JOURNEY_WAKE_UP).isoformat() == cart["wakes_at"]


async def test_her_page_shows_her_journeys_interests_and_reach(shop: str, env: WorkflowEnvironment,
                                                               customer_id: str) -> None:
    async with httpx.AsyncClient(base_url=shop) as http:
        await lisa_shops(http, customer_id)
        her = await her_answer(http, customer_id)
        by_journey = {run["journey"]: run for run in her["journeys"]}
        # Steps are not searchable here (the default): each running run told its own.
        described = await env.client.get_workflow_handle(by_journey["cart_abandonment"]["workflow_id"]).describe()
        assert described.typed_search_attributes.get(JOURNEY_STEP) is None
        # Browsing as a newcomer, she is in the first-purchase incentive and product discovery too.
        assert {"cart_abandonment", "email_confirmation", "first_purchase_incentive"} <= set(by_journey)
        cart, confirm = by_journey["cart_abandonment"], by_journey["email_confirmation"]
        assert cart["status"] == "running" and cart["step"] == "she is in the shop: an hour after her last move"
        assert confirm["step"] == "waiting for Newsletter Subscribed"
        assert [(s["step"], s["channel"], s["status"]) for s in confirm["sends"]] == [
            ("confirmation", "email", "sent")]
        assert [c["category"] for c in her["interests"]["categories"]] == ["lips", "skin"]
        assert her["interests"]["products"][0]["product_id"] == "lip-1"
        assert her["best"]["channel"]["channel"] in ("email", "onsite") and her["best"]["hour"]["reason"]
        assert (await http.get("/v1/customers", params={"email": f"{customer_id.upper()}@MAIL.test"},
                               headers=OPERATOR)).json() == {"customers": [customer_id]}
        # A marketer sees her page only where the shop allows it.
        refused = await http.get(f"/v1/customers/{customer_id}", headers={"Authorization": f"Bearer {MARKETER_KEY}"})
        assert refused.status_code == 403 and "SOJOURN_MARKETER_SEES_CUSTOMERS" in refused.text

    async with chromium() as browser:
        context = await browser.new_context(http_credentials={"username": "ops", "password": OPERATOR_KEY})
        try:
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{shop}/dashboard")
            await page.click("#nav-customers")
            await page.fill("#q", f"{customer_id}@mail.test")
            await page.click("#find button")
            await page.wait_for_selector("#her-id")
            assert page.url.endswith(f"/dashboard/customers/{customer_id}")
            for run in her["journeys"]:
                row = page.locator(f'#journeys tr[data-workflow="{run["workflow_id"]}"]')
                assert await row.locator(".step").text_content() == (run["step"] or "")
                assert await row.locator(".wakes").text_content() == when(run["wakes_at"])
                sends = row.locator(".sends li")
                assert await sends.count() == len(run["sends"])
                for i, sent in enumerate(run["sends"]):
                    assert await sends.nth(i).get_attribute("data-status") == sent["status"]
            categories = page.locator("#interests tr[data-category]")
            assert [await categories.nth(i).get_attribute("data-category") for i in range(await categories.count())] \
                == [c["category"] for c in her["interests"]["categories"]]
            assert await page.text_content("#best-channel") == her["best"]["channel"]["channel"]
            assert [s.strip() for s in (await page.text_content("#segments") or "").split(",") if s.strip()] \
                == her["segments"]
            assert errors == []
        finally:
            await context.close()


async def test_a_marketer_sees_her_page_where_the_shop_allows(env: WorkflowEnvironment, settings: Settings,
                                                              customer_id: str) -> None:
    from tests.conftest import open_api

    async with open_api(settings.model_copy(update={"marketer_sees_customers": True}), env.client) as api:
        await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
        allowed = await api.http.get(f"/v1/customers/{customer_id}",
                                     headers={"Authorization": f"Bearer {MARKETER_KEY}"})
        assert allowed.status_code == 200 and allowed.json()["id"] == customer_id
        # A storefront's write key, even with her own customer token, never reads her page.
        shopper = await api.http.get(f"/v1/customers/{customer_id}", headers=browser_of(customer_id))
        assert shopper.status_code == 401, shopper.text
        # Still never the pipeline, nor her journeys' controls.
        assert (await api.http.get("/v1/pipeline", headers={"Authorization": f"Bearer {MARKETER_KEY}"})).status_code \
            == 401


@hsettings(max_examples=60, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(who=st.one_of(texts, st.sampled_from(["anonymous:x", "a\"b", "x' OR '1'='1", "%2e%2e", "a\\\\b"])),
       query=st.one_of(texts, st.sampled_from(["@", "a@b", "A@B.TEST", "x" * 400])))
async def test_no_lookup_of_her_gets_a_5xx(routerless_api: Any, who: str, query: str) -> None:
    """Any id, any email, on both databases: 200, 400, 403 or 404, never a 5xx."""
    http = routerless_api.http
    path = quote(who, safe="", errors="surrogatepass") or "%20"
    signed_in = {"Authorization": "Basic " + base64.b64encode(f"ops:{OPERATOR_KEY}".encode()).decode()}
    for answer in (await http.get(f"/v1/customers/{path}", headers=OPERATOR),
                   await http.get("/v1/customers", params={"email": query.encode("utf-8", "surrogatepass")
                                                           .decode("utf-8", "replace")}, headers=OPERATOR),
                   await http.get(f"/dashboard/customers/{path}", headers=signed_in),
                   await http.get("/dashboard/customers", params={"q": query.encode("utf-8", "surrogatepass")
                                                                  .decode("utf-8", "replace")}, headers=signed_in)):
        assert answer.status_code in (200, 303, 400, 404), (answer.request.url, answer.status_code, answer.text[:200])
