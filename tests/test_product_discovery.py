"""Product discovery over simulated days: a returning customer browses; the site shows
what she may also like; without an add to cart two days later, an email with "you may
also like" and "previously viewed". A shopper who never bought is in it too, and gets
one follow-up: the first-purchase incentive's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.settings import Settings
from tests.conftest import Api, browser_of, fast_forward_unless_over, keep_history, open_api
from tests.support.smtp import Inbox
from tests.test_recommendations import PRODUCTS, refresh, shop
from worker import build_worker
from workflows.journeys.product_discovery import ProductDiscovery


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as opened:
        yield opened


async def test_a_returning_customer_gets_what_she_may_like(env: WorkflowEnvironment, api: Api, settings: Settings,
                                                           inbox: Inbox, customer_id: str) -> None:
    ids = await shop(api, customer_id)
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                      "firstName": "Ines"}})
    await api.track(customer_id, "Order Completed", {"order_id": f"first-{customer_id}",
                                                     "products": [{"product_id": ids["mascara"]}]})
    await refresh(api, settings)
    await api.track(customer_id, "Product Viewed", {"product_id": ids["serum"], **PRODUCTS["serum"],
                                                    "url": f"https://beauty.test/p/{ids['serum']}"})
    handle = api.client.get_workflow_handle(ProductDiscovery.spec.workflow_id(customer_id))
    for _ in range(200):
        slot = (await api.http.get(f"/v1/customers/{customer_id}/messages",
                                   params={"placement": "recommended_for_you"}, headers=browser_of(customer_id))).json()
        if slot:
            break
    [picked] = slot
    shown = [p["product_id"] for p in picked["content"]["products"]]
    assert shown[0] == ids["toner"] and ids["mascara"] not in shown, shown  # what she bought: never

    await env.fast_forward(handle, timedelta(days=2, minutes=1))
    [mail] = inbox.to(customer_id)
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"] == "Ines, picked for you"
    also, before = text.split("You may also like:")[1].split("Previously viewed:")
    assert "- Rose Toner: https://beauty.test/p/" in also and "- Glow Serum" in before, text
    await env.fast_forward(handle, timedelta(days=6))
    result = await handle.result()
    assert result["converted"] is False and result["sends"] == {"picked_for_you": "sent", "discovery_email": "sent"}
    await keep_history(handle, "product_discovery_no_add_to_cart")


async def test_an_add_to_cart_is_the_goal_and_spares_her_the_email(env: WorkflowEnvironment, api: Api,
                                                                   inbox: Inbox, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Order Completed", {"order_id": f"first-{customer_id}"})
    await api.track(customer_id, "Product Viewed", {"product_id": f"p-{uuid.uuid4()}"})
    handle = api.client.get_workflow_handle(ProductDiscovery.spec.workflow_id(customer_id))
    await api.track(customer_id, "Product Added", {"product_id": "p-1"})
    await fast_forward_unless_over(env, handle, timedelta(days=8))  # the add may end it first
    result = await handle.result()
    assert result["converted"] is True and "discovery_email" not in result["sends"], result
    assert inbox.to(customer_id) == []
    spec = ProductDiscovery.spec.describe()
    assert [g["kpi"] for g in [spec["goal"], *spec["also_measures"]]] == [
        "add-to-cart rate", "click-through rate", "recommendation click-through rate", "average order value"]


async def test_a_shopper_who_never_bought_is_in_it_with_one_follow_up(env: WorkflowEnvironment, api: Api,
                                                                      inbox: Inbox, customer_id: str) -> None:
    """The guide addresses all customers: she never bought, and browses. Both journeys
    take her: discovery's slot, and the first-purchase incentive's bar; two days on,
    only the incentive writes to her (with her code), never two follow-ups."""
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Product Viewed", {"product_id": "p-1"})
    journeys = [j["journey"] for j in (await api.operator("GET", f"/v1/customers/{customer_id}")).json()["journeys"]]
    assert "product_discovery" in journeys and "first_purchase_incentive" in journeys, journeys
    handle = api.client.get_workflow_handle(ProductDiscovery.spec.workflow_id(customer_id))
    await env.fast_forward(handle, timedelta(days=2, minutes=1))
    state = await handle.query("state")
    assert "discovery_email" not in state["sends"], state["sends"]
    assert any("email: skipped: she never bought" in line for line in state["timeline"]), state["timeline"]
    assert not any("picked for you" in m["Subject"] for m in inbox.to(customer_id))
