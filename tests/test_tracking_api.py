"""The Segment-compatible ingestion API: auth, limits, validation, idempotency, profiles."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import func, select

from sojourn.ground.models import Customer, Event
from tests.conftest import Api


async def stored(sessions: Any, *message_ids: str) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(Event).where(Event.message_id.in_(message_ids)))


def track(user_id: str, **extra: Any) -> dict[str, Any]:
    return {"userId": user_id, "event": "Viewed Product", "messageId": str(uuid.uuid4()), **extra}


@pytest.mark.parametrize(
    "key, why",
    [(None, "missing write key"), ("wrong-key", "invalid write key"), ("", "invalid write key")],
)
async def test_without_a_valid_write_key_the_answer_is_401(api: Api, sessions: Any, key: str | None, why: str) -> None:
    body = track("u1")
    response = await api.post("/v1/track", body, key=key)
    assert response.status_code == 401
    assert why in response.json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert await stored(sessions, body["messageId"]) == 0


async def test_any_configured_key_is_accepted(api: Api, sessions: Any) -> None:
    body = track("u1")
    response = await api.post("/v1/track", body, key="second-key")
    assert response.status_code == 200 and response.json() == {"success": True}
    assert await stored(sessions, body["messageId"]) == 1


async def test_malformed_basic_credentials_are_401(api: Api) -> None:
    response = await api.http.post("/v1/track", json=track("u1"), headers={"Authorization": "Basic %%%"})
    assert response.status_code == 401 and "malformed" in response.json()["detail"]


@pytest.mark.parametrize(
    "body, error",
    [
        ({"event": "X"}, "userId or anonymousId is required"),
        ({"userId": "u1"}, "event is required"),
        ({"userId": "u1", "event": "X", "properties": [1, 2]}, "properties must be an object"),
        ({"userId": {"id": 1}, "event": "X"}, "userId must be a string"),
        ({"userId": "u1", "event": "X", "timestamp": "yesterday"}, "timestamp is not ISO-8601"),
        ({"userId": "u" * 300, "event": "X"}, "userId is longer than 255"),
        ([1, 2], "body must be a JSON object"),
    ],
)
async def test_invalid_payloads_get_400_naming_the_field(api: Api, body: Any, error: str) -> None:
    response = await api.post("/v1/track", body)
    assert response.status_code == 400, response.text
    assert error in response.json()["error"]
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    "properties, error",
    [
        ({"quantity": "abc"}, "properties.quantity must be an integer"),
        ({"quantity": [1]}, "properties.quantity must be an integer"),
        ({"quantity": 1.5}, "properties.quantity must be an integer"),
        ({"quantity": True}, "properties.quantity must be an integer"),
        ({"quantity": -2}, "properties.quantity must not be negative"),
        ({"price": "24 EUR"}, "properties.price must be a number"),
        ({"revenue": {"amount": 1}}, "properties.revenue must be a number"),
        ({"products": "lipstick"}, "properties.products must be an array"),
        ({"products": ["lipstick"]}, "properties.products[0] must be an object"),
        ({"products": [{"quantity": 1}, {"quantity": "abc"}]}, "properties.products[1].quantity must be an integer"),
    ],
)
async def test_ecommerce_properties_of_the_wrong_type_get_400_naming_the_field(
    api: Api, sessions: Any, properties: dict[str, Any], error: str
) -> None:
    """Segment's e-commerce spec types them; a journey reading a cart relies on it."""
    for path, body in (("/v1/track", track("u1", event="Product Added", properties=properties)),
                       ("/v1/batch", {"batch": [track("u1", type="track", event="Order Completed", properties=properties)]})):
        response = await api.post(path, body)
        assert response.status_code == 400, response.text
        assert error in response.json()["error"], response.json()
    assert await stored(sessions, *message_ids_of(body)) == 0


async def test_ecommerce_types_bind_only_the_spec_s_events(api: Api, sessions: Any) -> None:
    body = track("u1", event="Quiz Answered", properties={"quantity": "lots", "price": "n/a"})
    assert (await api.post("/v1/track", body)).status_code == 200
    body = track("u1", event="Product Added", properties={"quantity": 2.0, "price": 24, "products": [{"price": 1.5}]})
    assert (await api.post("/v1/track", body)).status_code == 200


@pytest.mark.parametrize(
    "email",
    ["a@example.com, other@evil.example", "a@example.com;b@example.com", "Lisa <a@example.com>", "not-an-address",
     "a@example.com\r\nBcc: b@example.com", 42],
)
async def test_an_email_trait_must_be_exactly_one_address(api: Api, sessions: Any, email: Any) -> None:
    for traits_at in ({"traits": {"email": email}}, {"context": {"traits": {"email": email}}}):
        body = {"userId": "u-mail", "messageId": str(uuid.uuid4()), **traits_at}
        response = await api.post("/v1/identify", body)
        assert response.status_code == 400, response.text
        assert "traits.email" in response.json()["error"], response.json()
        assert await stored(sessions, body["messageId"]) == 0


async def test_a_valid_email_trait_is_stored_normalized(api: Api, sessions: Any, customer_id: str) -> None:
    response = await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": "Lisa@Beauty.TEST"}})
    assert response.status_code == 200, response.text
    async with sessions() as session:
        assert (await session.get(Customer, customer_id)).email == "Lisa@beauty.test"


def message_ids_of(body: dict[str, Any]) -> list[str]:
    return [m["messageId"] for m in body.get("batch", [body])]


async def test_invalid_json_is_400(api: Api) -> None:
    response = await api.http.post(
        "/v1/track", content=b'{"userId": "u1", "event": ', headers={"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"}
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


async def test_a_batch_with_one_bad_message_writes_nothing(api: Api, sessions: Any) -> None:
    good = track("u1")
    bad = {"type": "track", "userId": "u1", "messageId": str(uuid.uuid4())}  # no event
    response = await api.post("/v1/batch", {"batch": [{**good, "type": "track"}, bad]})
    assert response.status_code == 400
    assert response.json()["error"] == "batch[1].event is required for a track call"
    assert await stored(sessions, good["messageId"], bad["messageId"]) == 0


async def test_a_batch_needs_known_types(api: Api) -> None:
    response = await api.post("/v1/batch", {"batch": [{"type": "bogus", "userId": "u1"}]})
    assert response.status_code == 400 and "batch[0].type must be one of" in response.json()["error"]
    response = await api.post("/v1/batch", {"batch": []})
    assert response.status_code == 400 and response.json()["error"] == "batch is empty"
    response = await api.post("/v1/batch", {"events": []})
    assert response.status_code == 400 and "batch is required" in response.json()["error"]


async def test_a_batch_of_every_type_is_accepted(api: Api, sessions: Any, customer_id: str) -> None:
    messages = [
        {"type": "identify", "userId": customer_id, "traits": {"email": "a@b.test"}},
        {"type": "track", "userId": customer_id, "event": "Viewed Product"},
        {"type": "page", "userId": customer_id, "name": "Loyalty", "properties": {"path": "/loyalty"}},
        {"type": "screen", "anonymousId": "anon-1", "name": "Home"},
        {"type": "group", "userId": customer_id, "groupId": "g1"},
        {"type": "alias", "userId": customer_id, "previousId": "anon-1"},
    ]
    for m in messages:
        m["messageId"] = str(uuid.uuid4())
    response = await api.post("/v1/batch", {"batch": messages, "context": {"library": {"name": "analytics-python"}}})
    assert response.status_code == 200, response.text
    assert await stored(sessions, *[m["messageId"] for m in messages]) == 6
    async with sessions() as session:
        page = await session.scalar(select(Event).where(Event.message_id == messages[2]["messageId"]))
        assert (page.type, page.name) == ("page", "Loyalty")
        assert page.context["library"]["name"] == "analytics-python", "batch context applies to each message"


async def test_a_message_over_32kb_is_refused(api: Api, sessions: Any) -> None:
    body = track("u1", properties={"blob": "x" * (33 * 1024)})
    response = await api.post("/v1/track", body)
    assert response.status_code == 413
    assert "limit is 32768 per message" in response.json()["error"]
    assert await stored(sessions, body["messageId"]) == 0


async def test_a_batch_over_500kb_is_refused(api: Api) -> None:
    batch = [{**track("u1", properties={"blob": "x" * 30_000}), "type": "track"} for _ in range(18)]
    response = await api.post("/v1/batch", {"batch": batch})
    assert response.status_code == 413 and "limit is 512000" in response.json()["error"]


async def test_gzip_bodies_are_accepted(api: Api, sessions: Any) -> None:
    body = {"batch": [{**track("u1"), "type": "track"}]}
    response = await api.http.post(
        "/v1/batch",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json",
                 "Authorization": "Basic dGVzdC13cml0ZS1rZXk6"},
    )
    assert response.status_code == 200, response.text
    assert await stored(sessions, body["batch"][0]["messageId"]) == 1


async def test_bad_gzip_and_gzip_bombs_are_refused(api: Api) -> None:
    auth = {"Authorization": "Basic dGVzdC13cml0ZS1rZXk6", "Content-Encoding": "gzip"}
    response = await api.http.post("/v1/track", content=b"not gzip at all", headers=auth)
    assert response.status_code == 400 and "not valid gzip" in response.json()["error"]
    bomb = gzip.compress(b"{" + b" " * (5 * 1024 * 1024) + b"}")
    assert len(bomb) < 32 * 1024
    response = await api.http.post("/v1/track", content=bomb, headers=auth)
    assert response.status_code == 413 and "decompressed body" in response.json()["error"]


async def test_identify_upserts_the_profile_and_merges_traits(api: Api, sessions: Any, customer_id: str) -> None:
    first = {"userId": customer_id, "anonymousId": "anon-9",
             "traits": {"email": "lisa@mail.test", "firstName": "Lisa", "skin_type": "dry"}}
    assert (await api.post("/v1/identify", first)).status_code == 200
    second = {"userId": customer_id, "traits": {"timezone": "Europe/Paris", "skin_type": "oily", "vip": True}}
    assert (await api.post("/v1/identify", second)).status_code == 200
    async with sessions() as session:
        customer = await session.get(Customer, customer_id)
    assert (customer.email, customer.first_name, customer.timezone, customer.anonymous_id) == (
        "lisa@mail.test", "Lisa", "Europe/Paris", "anon-9")
    assert customer.traits == {"email": "lisa@mail.test", "firstName": "Lisa", "skin_type": "oily",
                               "vip": True, "timezone": "Europe/Paris"}


async def test_a_duplicate_identify_does_not_reapply_old_traits(api: Api, sessions: Any, customer_id: str) -> None:
    old = {"userId": customer_id, "messageId": f"id-{customer_id}", "traits": {"email": "old@mail.test"}}
    assert (await api.post("/v1/identify", old)).status_code == 200
    assert (await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": "new@mail.test"}})).status_code == 200
    assert (await api.post("/v1/identify", old)).status_code == 200  # a client retry, late
    async with sessions() as session:
        assert (await session.get(Customer, customer_id)).email == "new@mail.test"


async def test_same_call_without_message_id_but_with_timestamp_counts_once(api: Api, sessions: Any) -> None:
    body = {"userId": "u-ts", "event": "Viewed Product", "timestamp": "2026-11-22T10:00:00Z"}
    assert (await api.post("/v1/track", body)).status_code == 200
    assert (await api.post("/v1/track", body)).status_code == 200
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Event).where(Event.customer_id == "u-ts"))
    assert count == 1


async def test_analytics_js_sends_its_key_in_a_text_plain_body_to_short_paths(api: Api, sessions: Any) -> None:
    """As @segment/analytics-next does: /v1/t, /v1/b, the write key in the body."""
    from tests.conftest import WRITE_KEY

    one = {**track("u-browser"), "type": "track", "writeKey": WRITE_KEY}
    plain = {"Content-Type": "text/plain"}
    response = await api.http.post("/v1/t", content=json.dumps(one), headers=plain)
    assert response.status_code == 200, response.text
    batch = {"batch": [{**track("u-browser"), "type": "track"}, {**track("u-browser"), "type": "page",
                                                               "name": "Home"}], "writeKey": WRITE_KEY}
    assert (await api.http.post("/v1/b", content=json.dumps(batch), headers=plain)).status_code == 200
    assert await stored(sessions, one["messageId"], *(m["messageId"] for m in batch["batch"])) == 3
    for path, body in (("/v1/t", {**track("u1"), "writeKey": "not-a-key"}), ("/v1/t", track("u1")),
                       ("/v1/b", {"batch": [track("u1")], "writeKey": ""}), ("/v1/p", [1])):
        refused = await api.http.post(path, content=json.dumps(body), headers=plain)
        assert refused.status_code == 401, (path, refused.text)


async def test_a_client_clock_s_skew_is_corrected_by_sent_at(api: Api, sessions: Any, customer_id: str) -> None:
    """Her phone is an hour fast: the event happened 5 s before the SDK sent it, so
    it is stored 5 s before it arrived, not an hour in the future."""
    from datetime import datetime, timedelta

    fast = datetime.now(UTC) + timedelta(hours=1)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    single = {**track(customer_id), "timestamp": iso(fast), "sentAt": iso(fast + timedelta(seconds=5))}
    batched = {**track(customer_id), "type": "track", "timestamp": iso(fast)}
    plain = {**track(customer_id), "timestamp": "2026-11-20T10:00:00Z"}  # no sentAt: as given
    assert (await api.post("/v1/track", single)).status_code == 200
    assert (await api.post("/v1/batch", {"batch": [batched], "sentAt": iso(fast + timedelta(seconds=30))})
            ).status_code == 200
    assert (await api.post("/v1/track", plain)).status_code == 200
    async with sessions() as session:
        rows = {e.message_id: e for e in (await session.scalars(select(Event).where(Event.customer_id == customer_id)))}
    for body, before in ((single, 5), (batched, 30)):
        row = rows[body["messageId"]]
        happened = row.timestamp.replace(tzinfo=UTC) if row.timestamp.tzinfo is None else row.timestamp
        received = row.received_at.replace(tzinfo=UTC) if row.received_at.tzinfo is None else row.received_at
        assert abs((received - happened) - timedelta(seconds=before)) < timedelta(seconds=2), (happened, received)
    assert rows[plain["messageId"]].timestamp.replace(tzinfo=None) == datetime(2026, 11, 20, 10)
    wrong = await api.post("/v1/track", {**track(customer_id), "timestamp": iso(fast), "sentAt": "soon"})
    assert wrong.status_code == 400 and "sentAt is not ISO-8601" in wrong.json()["error"]
