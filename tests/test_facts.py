"""Customer facts, kept by the store in the events' transaction: the rules (pure), and
the facts as an operator reads them, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sojourn.ground.calls import Call
from sojourn.ground.facts import RECENTLY_VIEWED, Facts, apply, platform_of
from tests.conftest import Api

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def event(name: str, properties: dict[str, Any] | None = None, *, type_: str = "track", traits: Any = None,
          context: Any = None, at: datetime = T0) -> Call:
    return Call(type=type_, message_id=str(uuid.uuid4()), customer_id="lisa", user_id="lisa", anonymous_id=None,
                   name=name, properties=properties or {}, traits=traits or {}, context=context or {}, timestamp=at)


def test_orders_and_refunds() -> None:
    facts = Facts()
    apply(facts, event("Order Completed", {"revenue": 40, "products": [{"product_id": "lip-42"}, {"sku": "m-7"}]},
                       at=T0), T0)
    apply(facts, event("Order Completed", {"total": 10.5}, at=T0 - timedelta(days=3)), T0)  # a backfilled order
    assert (facts.orders_count, facts.revenue, facts.last_order_products) == (2, 50.5, [])
    assert (facts.first_order_at, facts.last_order_at) == (T0 - timedelta(days=3), T0)
    apply(facts, event("Order Refunded", {"revenue": 5, "products": [{"product_id": "lip-42"}]}), T0)  # partial
    assert (facts.orders_count, facts.revenue) == (2, 45.5)
    apply(facts, event("Order Refunded", {"total": 100}), T0)  # the whole order, more than is left
    assert (facts.orders_count, facts.revenue) == (1, 0.0)


def test_views_sign_up_newsletter_app_and_platform() -> None:
    facts = Facts()
    for pid in ["a", "b", "a", *map(str, range(30))]:
        apply(facts, event("Product Viewed", {"product_id": pid}), T0)
    assert facts.recently_viewed[:3] == ["29", "28", "27"] and len(facts.recently_viewed) == RECENTLY_VIEWED
    apply(facts, event("Signed Up", at=T0), T0)
    apply(facts, event("Signed Up", at=T0 + timedelta(days=1)), T0)
    assert facts.signed_up_at == T0, "the first time"
    apply(facts, event("Newsletter Subscribed"), T0)
    assert facts.newsletter_subscribed is True
    apply(facts, event("", type_="identify", traits={"newsletter": False}), T0)
    assert facts.newsletter_subscribed is False
    apply(facts, event("Application Installed", context={"os": {"name": "iOS"}}), T0)
    assert facts.app_installed_at == T0 and facts.platform == "ios"
    assert platform_of({"library": {"name": "analytics.js"}}) == "web"
    assert platform_of({"device": {"type": "android"}}) == "android"


@pytest.mark.parametrize("properties", [{"product_id": ["x"]}, {"product_id": None}, {"products": "x"},
                                        {"products": [1, {"product_id": True}]}, {"revenue": "lots"}])
def test_odd_properties_change_nothing_and_never_raise(properties: dict[str, Any]) -> None:
    for name in ("Product Viewed", "Order Completed", "Order Refunded"):
        facts = apply(Facts(), event(name, properties), T0)
        assert facts.recently_viewed == [] and facts.last_order_products == [] and facts.revenue == 0.0


async def test_an_operator_reads_a_customer_s_facts_in_one_answer(api: Api, customer_id: str) -> None:
    mobile = {"os": {"name": "Android"}}
    body = {"batch": [
        {"type": "identify", "userId": customer_id, "messageId": f"{customer_id}-1",
         "traits": {"email": f"{customer_id}@mail.test", "newsletter": True}},
        {"type": "track", "userId": customer_id, "messageId": f"{customer_id}-2", "event": "Product Viewed",
         "properties": {"product_id": "lip-42"}},
        {"type": "track", "userId": customer_id, "messageId": f"{customer_id}-3", "event": "Product Viewed",
         "properties": {"product_id": "mas-7"}, "context": mobile},
        {"type": "track", "userId": customer_id, "messageId": f"{customer_id}-4", "event": "Order Completed",
         "properties": {"order_id": "o-1", "revenue": 43.5, "products": [{"product_id": "lip-42", "quantity": 1}]},
         "timestamp": "2026-11-20T10:00:00Z"},
        {"type": "track", "userId": customer_id, "messageId": f"{customer_id}-5", "event": "Signed Up"},
    ]}
    assert (await api.post("/v1/batch", body)).status_code == 200
    assert (await api.post("/v1/batch", body)).status_code == 200  # the same messageIds: applied once
    response = await api.operator("GET", f"/v1/customers/{customer_id}")
    assert response.status_code == 200, response.text
    answer = response.json()
    facts = answer["facts"]
    assert (facts["orders_count"], facts["revenue"], facts["last_order_products"]) == (1, 43.5, ["lip-42"])
    assert facts["first_order_at"].startswith("2026-11-20T10:00:00")
    assert facts["recently_viewed"] == ["mas-7", "lip-42"] and facts["newsletter_subscribed"] is True
    assert facts["platform"] == "android" and facts["signed_up_at"] and facts["first_seen_at"]
    assert answer["profile"]["email"] == f"{customer_id}@mail.test"
    assert answer["consents"] == [] and answer["push_subscriptions"] == []
    assert answer["segments"] == ["first_time_buyer", "has_purchased", "no_app"]
    # Her view, sent now, entered the first-purchase incentive (she had never bought then).
    # Her order is dated two weeks back: the shop's past (#27), which updates her facts
    # above and starts no account registration or post-purchase.
    assert sorted(j["journey"] for j in answer["journeys"]) == ["first_purchase_incentive", "product_discovery"]
    assert (await api.operator("GET", "/v1/customers/nobody-at-all")).status_code == 404
    assert (await api.operator("GET", f"/v1/customers/{customer_id}", key=None)).status_code == 401
    write_key = await api.http.get(f"/v1/customers/{customer_id}", headers={"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"})
    assert write_key.status_code == 401, "a write key only appends events"


async def test_concurrent_orders_of_one_customer_all_count(api: Api, customer_id: str) -> None:
    async def order(i: int) -> None:
        response = await api.post("/v1/track", {"userId": customer_id, "messageId": f"{customer_id}-o{i}",
                                                "event": "Order Completed", "properties": {"revenue": 10}})
        assert response.status_code == 200

    await asyncio.gather(*(order(i) for i in range(12)))
    facts = (await api.operator("GET", f"/v1/customers/{customer_id}")).json()["facts"]
    assert (facts["orders_count"], facts["revenue"]) == (12, 120.0)
