"""Push subscriptions and the VAPID public key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from sojourn.ground.models import PushSubscription
from sojourn.ground.settings import Settings
from sojourn.ground.vapid import VapidKeys, load_vapid_keys
from tests.conftest import Api, browser_of
from tests.support.push_receiver import Browser, b64d


async def test_vapid_key_is_generated_once_and_shared(api: Api, sessions: Any, settings: Settings) -> None:
    first = (await api.http.get("/v1/push/vapid-public-key")).json()["publicKey"]
    assert len(b64d(first)) == 65 and b64d(first)[0] == 4, "an uncompressed P-256 point"
    # A worker (another process) loading the keys gets the same pair from the database.
    assert (await load_vapid_keys(sessions, settings)).public_key == first


async def test_vapid_key_from_settings_wins(sessions: Any, settings: Settings) -> None:
    mine = VapidKeys.generate()
    loaded = await load_vapid_keys(sessions, settings.model_copy(update={"vapid_private_key": mine.private_key}))
    assert loaded == mine


async def test_a_subscription_is_stored_once_per_endpoint(api: Api, sessions: Any, customer_id: str) -> None:
    sub = Browser("b1").subscription("http://127.0.0.1:9")
    sub["endpoint"] += customer_id
    first = await api.post(f"/v1/customers/{customer_id}/push-subscriptions", sub)
    assert first.status_code == 201, first.text
    # The same browser logs in as someone else: the subscription moves.
    other = f"{customer_id}-other"
    again = await api.post(f"/v1/customers/{other}/push-subscriptions", sub)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    async with sessions() as session:
        owners = (await session.scalars(select(PushSubscription.customer_id).where(
            PushSubscription.endpoint == sub["endpoint"]))).all()
    assert owners == [other]

    gone = await api.http.request("DELETE", f"/v1/customers/{other}/push-subscriptions",
                                  params={"endpoint": sub["endpoint"]},
                                  headers=browser_of(other))
    assert gone.status_code == 204
    async with sessions() as session:
        assert (await session.scalar(select(PushSubscription).where(PushSubscription.endpoint == sub["endpoint"]))) is None


async def test_subscriptions_need_the_write_key(api: Api, customer_id: str) -> None:
    response = await api.post(f"/v1/customers/{customer_id}/push-subscriptions",
                              Browser("b").subscription("http://127.0.0.1:9"), key=None)
    assert response.status_code == 401


async def test_an_endpoint_outside_the_allow_list_is_refused(api: Api, sessions: Any, customer_id: str) -> None:
    for endpoint, error in [
        ("http://169.254.169.254/latest/meta-data", "must be an https URL"),
        ("https://internal.corp.example/push", "is not an allowed push service"),
        ("https://user:pw@127.0.0.1/push", "must not carry credentials"),
        ("ftp://127.0.0.1/push", "must be an https URL"),
    ]:
        sub = {**Browser("b").subscription("x"), "endpoint": endpoint}
        response = await api.post(f"/v1/customers/{customer_id}/push-subscriptions", sub)
        assert response.status_code == 400, endpoint
        assert response.json()["error"].startswith("endpoint ") and error in response.json()["error"]
    async with sessions() as session:
        assert (await session.scalar(select(PushSubscription).where(PushSubscription.customer_id == customer_id))) is None


async def test_malformed_subscription_keys_are_refused(api: Api, customer_id: str) -> None:
    sub = Browser("b").subscription("http://127.0.0.1:9")
    response = await api.post(f"/v1/customers/{customer_id}/push-subscriptions",
                              {**sub, "keys": {"p256dh": "abc", "auth": sub["keys"]["auth"]}})
    assert response.status_code == 400 and "keys.p256dh must decode to 65 bytes" in response.json()["error"]
    response = await api.post(f"/v1/customers/{customer_id}/push-subscriptions", {"endpoint": sub["endpoint"]})
    assert response.status_code == 400 and response.json()["error"].startswith("keys:")
