"""Operator endpoints: registered journeys, a customer's journeys, cancel, KPIs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.settings import Settings
from tests.conftest import WRITE_KEY, Api, open_api
from tests.support.journeys import OnceProbe
from workflows.journeys.first_purchase_incentive import FirstPurchaseIncentive
from workflows.registry import JOURNEYS


@pytest.mark.parametrize("path", ["/v1/journeys", "/v1/customers/x/journeys", "/v1/journeys/cart_abandonment/stats"])
async def test_operator_endpoints_need_an_operator_key(api: Api, path: str) -> None:
    assert (await api.operator("GET", path, key=None)).status_code == 401
    assert (await api.operator("GET", path, key=WRITE_KEY)).status_code == 401, "a write key is not an operator key"
    response = await api.http.get(path, headers={"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"})
    assert response.status_code == 401


async def test_registered_journeys_with_their_metadata(api: Api) -> None:
    response = await api.operator("GET", "/v1/journeys")
    assert response.status_code == 200
    journeys = {j["name"]: j for j in response.json()}
    assert set(journeys) == {j.spec.name for j in JOURNEYS}  # whatever is registered, nothing else
    assert {"cart_abandonment", "first_purchase_incentive", "loyalty_signup_abandonment", "referral_ask"} <= set(journeys)
    cart = journeys["cart_abandonment"]
    assert cart["entry"] == [{"type": "track", "name": "Product Added", "properties": {}, "predicate": False}]
    assert cart["exits"][0]["name"] == "Order Completed"
    assert cart["goal"] == {"event": "Order Completed", "within_seconds": 7 * 86400, "kpi": "conversion rate",
                            "after": None, "revenue": "revenue", "own": False, "per": "entry",
                            "definition": "entries with 'Order Completed' within 7 days of entry ÷ entries (runs not "
                                          "ended early); value: their 'revenue' added up, and its average per entry "
                                          "that reached it"}
    assert journeys["referral_ask"]["key"] == "order_id"
    assert journeys["loyalty_signup_abandonment"]["entry"][0]["properties"] == {"path": "<setting loyalty_signup_path>"}
    assert journeys["loyalty_signup_abandonment"]["reentry"] == {"mode": "cooldown", "cooldown_seconds": 30 * 86400}
    first = FirstPurchaseIncentive.spec.describe()
    assert (first["only_for"], first["exits"]) == ("never_purchased", [{"leaves": "never_purchased"}])
    assert [g["kpi"] for g in [first["goal"], *first["also_measures"]]] == ["conversion rate", "add-to-cart rate"]


async def test_a_customers_journeys_and_cancelling_one(env: WorkflowEnvironment, api: Api, worker: Any,
                                                       customer_id: str) -> None:
    await api.track(customer_id, "Product Added", {"product_id": "p"})
    await api.track(customer_id, "Order Delivered", {"order_id": "o-5"})
    for _ in range(50):  # visibility is eventually consistent
        listed = (await api.operator("GET", f"/v1/customers/{customer_id}/journeys")).json()
        steps = {j["journey"]: j["step"] for j in listed}
        if steps.get("cart_abandonment") == "she is in the shop: an hour after her last move" and steps.get("referral_ask") == "3 days after delivery":
            break
        await asyncio.sleep(0.2)
    by_id = {j["workflow_id"]: j for j in listed}
    cart = by_id[f"cart_abandonment:{customer_id}"]
    assert (cart["journey"], cart["status"], cart["workflow_type"]) == ("cart_abandonment", "RUNNING", "CartAbandonment")
    assert cart["step"] == "she is in the shop: an hour after her last move"
    assert f"referral_ask:{customer_id}:o-5" in by_id

    path = f"/v1/customers/{customer_id}/journeys/cart_abandonment:{customer_id}/cancel"
    assert (await api.operator("POST", f"/v1/customers/someone-else/journeys/cart_abandonment:{customer_id}/cancel")
            ).status_code == 404
    response = await api.operator("POST", path)
    assert response.status_code == 202, response.text
    handle = api.client.get_workflow_handle(f"cart_abandonment:{customer_id}")
    for _ in range(50):
        if (await handle.describe()).status == WorkflowExecutionStatus.CANCELED:
            break
        await asyncio.sleep(0.1)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert (await api.operator("POST", path)).status_code == 409
    assert (await api.operator("POST", f"/v1/customers/{customer_id}/journeys/nope/cancel")).status_code == 404
    await api.client.get_workflow_handle(f"referral_ask:{customer_id}:o-5").terminate("test over")


async def test_a_quote_in_a_customer_id_cannot_escape_the_query(api: Api) -> None:
    response = await api.operator("GET", '/v1/customers/x" OR CustomerId != "y/journeys')
    assert response.status_code == 400 and "quotes" in response.json()["detail"]


async def test_kpis_per_journey(env: WorkflowEnvironment, api: Api, worker: Any, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Product Added", {"product_id": "p"})
    handle = api.client.get_workflow_handle(f"cart_abandonment:{customer_id}")
    await env.fast_forward(handle, timedelta(days=1, hours=1))
    before = (await api.operator("GET", "/v1/journeys/cart_abandonment/stats")).json()
    await api.track(customer_id, "Order Completed", {"order_id": "o"})
    await handle.result()
    after = (await api.operator("GET", "/v1/journeys/cart_abandonment/stats")).json()
    assert after["conversions"] == before["conversions"] + 1
    assert after["kpi"] == "conversion rate" and 0 < after["rate"] <= 1
    assert after["sends"]["email_same_day"]["sent"] >= 1 and after["sends"]["push_1h"]["skipped"] >= 1
    assert (await api.operator("GET", "/v1/journeys/nope/stats")).status_code == 404


async def test_reentry_once_ever(env: WorkflowEnvironment, settings: Settings, sessions: Any,
                                 customer_id: str) -> None:
    from worker import build_worker

    async with build_worker(env.client, settings, sessions, extra_workflows=[OnceProbe]), \
            open_api(settings, env.client, journeys=(OnceProbe,)) as api:
        await api.track(customer_id, "Welcome")
        handle = env.client.get_workflow_handle(f"probe_once:{customer_id}")
        first = (await handle.describe()).run_id
        await handle.result()
        await api.track(customer_id, "Welcome")
        assert (await env.client.get_workflow_handle(f"probe_once:{customer_id}").describe()).run_id == first
