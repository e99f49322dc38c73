"""Identity: the anonymous visitor and the customer she turns out to be are one person.
An identify with both ids, or an alias, merges her anonymous profile, facts, consents
and browsers into the customer; later anonymous events are hers; a journey that began
while she was anonymous reaches her once she is known."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Consent
from tests.conftest import Api
from tests.support.push_receiver import PushReceiver
from tests.support.smtp import Inbox
from workflows.journeys.cart_abandonment import CartAbandonment
from workflows.journeys.first_purchase_incentive import FirstPurchaseIncentive
from workflows.journeys.product_discovery import ProductDiscovery

LIPSTICK = {"product_id": "lip-42", "name": "Velvet Lipstick", "price": 24.0, "quantity": 1, "cart_id": "c-1"}


async def anonymous(api: Api, anon: str, event: str, properties: dict[str, Any]) -> None:
    response = await api.post("/v1/track", {"anonymousId": anon, "event": event, "properties": properties,
                                            "messageId": f"{anon}-{event}-{len(properties)}"})
    assert response.status_code == 200, response.text


async def profile(api: Api, customer_id: str) -> dict[str, Any]:
    response = await api.operator("GET", f"/v1/customers/{customer_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_she_browses_anonymously_then_identifies_and_the_journey_email_arrives(
    env: WorkflowEnvironment, api: Api, worker: Any, inbox: Inbox, push_service: PushReceiver, customer_id: str
) -> None:
    anon = f"anon-{customer_id}"
    visitor = f"anonymous:{anon}"  # how the shop's backend names her profile while she is anonymous
    # Anonymous: she allows push, looks at a lipstick and adds it to her cart.
    browser = push_service.browser(anon)
    response = await api.post(f"/v1/customers/{visitor}/push-subscriptions",
                              browser.subscription(push_service.base_url))
    assert response.status_code == 201, response.text
    await anonymous(api, anon, "Product Viewed", {"product_id": "lip-42"})
    await anonymous(api, anon, "Product Added", LIPSTICK)
    handle = api.client.get_workflow_handle(CartAbandonment.spec.workflow_id(visitor))
    assert (await handle.query("state"))["step"] != "completed"

    # She signs in: an identify with both ids and her email.
    response = await api.post("/v1/identify", {"userId": customer_id, "anonymousId": anon, "traits": {
        "email": f"{customer_id}@mail.test", "firstName": "Lisa"}})
    assert response.status_code == 200, response.text

    # One person now: her anonymous facts, browser and journey are the customer's.
    lisa = await profile(api, customer_id)
    assert lisa["linked_ids"] == [visitor] and lisa["known"] is True
    assert lisa["facts"]["recently_viewed"] == ["lip-42"]
    assert [b["endpoint"] for b in lisa["push_subscriptions"]] == [f"{push_service.base_url}/push/{anon}"]
    assert {j["workflow_id"] for j in lisa["journeys"]} == {CartAbandonment.spec.workflow_id(visitor),
                                                             FirstPurchaseIncentive.spec.workflow_id(visitor),
                                                             ProductDiscovery.spec.workflow_id(visitor)}
    assert "never_purchased" in lisa["segments"]
    assert (await profile(api, anon))["id"] == customer_id, "her anonymous id answers with her"

    # The journey that began while she was anonymous reaches her: push, then email.
    await env.fast_forward(handle, timedelta(hours=1, minutes=1))
    assert len(push_service.to(anon)) == 1, "her browser, moved to her, got the push"
    await env.fast_forward(handle, timedelta(hours=23))
    [mail] = inbox.to(customer_id)
    assert mail["Subject"] == "Lisa, your cart is waiting"

    # A later event with only her anonymous id is hers too: her order ends the journey.
    await anonymous(api, anon, "Order Completed", {"order_id": "o-1", "revenue": 24.0, "cart_id": "c-1"})
    result = await handle.result()
    assert result["outcome"] == "exited" and result["converted"] is True, result
    assert (await profile(api, customer_id))["facts"]["orders_count"] == 1


async def test_an_alias_merges_facts_and_consents_and_links_once(
    api: Api, sessions: Any, customer_id: str
) -> None:
    anon, other = f"anon-{customer_id}", f"{customer_id}-other"
    await anonymous(api, anon, "Order Completed", {"order_id": "o-1", "revenue": 10.0})
    await api.track(customer_id, "Order Completed", {"order_id": "o-2", "revenue": 15.0})
    async with sessions() as session:
        session.add_all([
            Consent(customer_id=f"anonymous:{anon}", channel="email", topic="marketing", subscribed=False,
                    source="page"),
            Consent(customer_id=f"anonymous:{anon}", channel="push", topic="marketing", subscribed=False,
                    source="page"),
            Consent(customer_id=customer_id, channel="email", topic="marketing", subscribed=True, source="api"),
        ])
        await session.commit()

    response = await api.post("/v1/alias", {"userId": customer_id, "previousId": anon})
    assert response.status_code == 200, response.text
    lisa = await profile(api, customer_id)
    assert (lisa["facts"]["orders_count"], lisa["facts"]["revenue"]) == (2, 25.0)
    assert "first_time_buyer" not in lisa["segments"]
    consents = {(c["channel"], c["subscribed"]) for c in lisa["consents"]}
    assert consents == {("email", True), ("push", False)}, "her own choice wins; the visitor's others come along"

    # An anonymous id links once: a second customer can't claim it.
    await api.track(other, "Order Completed", {"order_id": "o-3", "revenue": 99.0})
    response = await api.post("/v1/alias", {"userId": other, "previousId": anon})
    assert response.status_code == 200
    assert (await profile(api, anon))["id"] == customer_id

    # The shop's backend (only it: tests/test_identity_namespaces.py) links one user id
    # to another: the two accounts are one person.
    response = await api.post("/v1/alias", {"userId": customer_id, "previousId": other})
    assert response.status_code == 200, response.text
    assert (await profile(api, other))["id"] == customer_id
    assert (await profile(api, customer_id))["facts"]["orders_count"] == 3


async def test_an_alias_needs_both_ids(api: Api, customer_id: str) -> None:
    response = await api.post("/v1/alias", {"userId": customer_id})
    assert response.status_code == 400 and "previousId" in response.json()["error"]
