"""Property: whatever a client sends to the ingestion endpoints, the answer is never a
5xx, and a message is stored whole or not at all, on SQLite and PostgreSQL.

The bodies mix plausible Segment calls with what broke earlier versions: NUL and
lone surrogates anywhere, timestamps at the edges of the calendar, deep nesting,
non-finite and huge numbers, traits longer than their columns, gzip."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select, update
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.facts import facts_of
from sojourn.ground.models import Customer, Event
from sojourn.ground.settings import Settings
from tests.conftest import OPERATOR_KEY, SERVER_KEY, WRITE_KEY, Api, basic, open_api
from tests.support.journeys import JoinsProbe, LapsedProbe, OnlyForProbe
from workflows.registry import JOURNEYS

AUTH = {"Authorization": basic(SERVER_KEY)}  # a backend's
OK = {200, 400, 413, 415}

any_text = st.text(st.characters(exclude_categories=()), max_size=40)  # surrogates and NUL included
plain_text = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=30)
hazard_text = st.sampled_from(["a\x00b", "\ud800", "x" * 300, "\udfff tail", "y" * 40_000])
texts = st.one_of(plain_text, plain_text, plain_text, any_text, hazard_text)
safe_numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=False,
                                                                                    allow_infinity=False))
hazard_numbers = st.one_of(st.floats(), st.just("__HUGE__"), st.just("__BIGINT__"), st.integers())
leaves = st.one_of(st.none(), st.booleans(), safe_numbers, plain_text, plain_text, hazard_numbers, texts)
json_values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=10
)
good_times = st.datetimes(timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat())
timestamps = st.one_of(
    good_times, good_times,
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-11-23T10:00:00Z",
                     "1969-12-31T23:59:59Z", "yesterday", "2026-02-30T00:00:00Z"]),
    any_text, st.integers(),
)
traits = st.fixed_dictionaries({}, optional={
    "email": st.one_of(texts, st.just("a" * 330 + "@x.test"), st.just("lisa@example.com")), "firstName": texts,
    "timezone": st.one_of(texts, st.just("Europe/Paris")), "extra": json_values,
})
user_ids = st.one_of(st.uuids().map(str), st.uuids().map(str), st.uuids().map(str), texts, st.integers(),
                     st.just({"id": 1}))
names = st.one_of(st.sampled_from(["Product Added", "Product Viewed", "Order Completed", "Loyalty"]), texts)
kinds = st.one_of(st.just("track"), st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "bogus"]))


@st.composite
def messages(draw: Any, kind: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"messageId": "set-per-example", "userId": draw(user_ids), "event": draw(names)}
    if kind is None:
        message["type"] = draw(kinds)
    for field, values in (
        ("userId", st.one_of(user_ids, st.none())),
        ("anonymousId", st.one_of(texts, st.none())),
        ("name", names),
        ("timestamp", timestamps),
        ("properties", st.one_of(st.dictionaries(plain_text, json_values, max_size=4), json_values)),
        ("traits", traits),
        ("context", st.dictionaries(plain_text, json_values, max_size=3)),
    ):
        if draw(st.booleans()):
            message[field] = draw(values)
    depth = draw(st.sampled_from([0] * 12 + [40, 700, 12_000]))
    if depth:
        message["properties"] = {"deep": "__DEEP__"}
        message["__depth"] = depth
    return message


def encode(body: Any) -> bytes:
    depth = 0
    if isinstance(body, dict):
        for m in body.get("batch", [body]) if isinstance(body.get("batch"), list) else [body]:
            depth = max(depth, m.pop("__depth", 0))
    text = json.dumps(body, allow_nan=True)  # NaN/Infinity tokens on purpose
    text = text.replace('"__HUGE__"', "1e400").replace('"__BIGINT__"', "9" * 5000)
    return text.replace('"__DEEP__"', "[" * depth + "]" * depth).encode()


# What the customer facts and the e-commerce checks read (sojourn/ground/facts.py, api/calls.py).
fact_events = st.sampled_from(["Product Viewed", "Product Added", "Order Completed", "Order Refunded", "Signed Up",
                               "Newsletter Subscribed", "Newsletter Unsubscribed", "Application Installed"])
fact_values = st.one_of(leaves, json_values, st.lists(st.fixed_dictionaries({}, optional={
    "product_id": leaves, "sku": leaves, "quantity": leaves, "price": leaves}), max_size=3))
fact_properties = st.fixed_dictionaries({}, optional={
    name: fact_values for name in ("quantity", "price", "revenue", "total", "value", "product_id", "sku", "products")})
fact_context = st.fixed_dictionaries({}, optional={"os": json_values, "device": json_values, "library": json_values})

# Identity: a few ids shared across examples, so links and merges meet each other
# (an id linked twice, a known customer's id as a previousId, anonymous events after).
people = st.one_of(st.sampled_from(["fuzz-anon-a", "fuzz-anon-b", "fuzz-lisa", "fuzz-zoe"]), user_ids)
identity_calls = st.one_of(
    st.tuples(st.just("alias"), st.fixed_dictionaries({"userId": people, "messageId": st.uuids().map(str)},
                                                      optional={"previousId": st.one_of(people, st.none())})),
    st.tuples(st.just("identify"), st.fixed_dictionaries({"userId": people, "anonymousId": people,
                                                         "messageId": st.uuids().map(str)})),
    st.tuples(st.just("track"), st.fixed_dictionaries({"anonymousId": people, "event": fact_events,
                                                      "messageId": st.uuids().map(str),
                                                      "properties": fact_properties})),
)

calls = st.one_of(
    identity_calls,
    st.tuples(st.just("track"), st.fixed_dictionaries({"userId": user_ids, "event": fact_events,
                                                      "messageId": st.uuids().map(str),
                                                      "properties": fact_properties, "context": fact_context})),
    st.tuples(st.just("identify"), st.fixed_dictionaries({"userId": user_ids, "messageId": st.uuids().map(str),
                                                         "traits": st.fixed_dictionaries({}, optional={
                                                             "newsletter": leaves, "email": texts})})),
    st.tuples(st.sampled_from(["track", "identify", "page", "screen"]), messages(kind="single")),
    st.tuples(st.just("batch"), st.fixed_dictionaries({"batch": st.lists(messages(), min_size=1, max_size=4)})),
    st.tuples(st.sampled_from(["track", "batch"]), st.one_of(json_values, st.lists(json_values, max_size=2))),
    st.tuples(st.just("track"), st.fixed_dictionaries({"userId": user_ids, "event": names,
                                                      "messageId": st.uuids().map(str),
                                                      "properties": st.dictionaries(plain_text, leaves)})),
)


def fresh_ids(body: Any) -> list[str]:
    """Give every message a messageId no earlier example used; return them."""
    items = body.get("batch") if isinstance(body, dict) and isinstance(body.get("batch"), list) else [body]
    ids = []
    for m in items:
        if isinstance(m, dict) and isinstance(m.get("messageId"), str):
            m["messageId"] = f"fuzz-{uuid.uuid4()}"
            ids.append(m["messageId"])
    return ids


@pytest.fixture
async def quiet_api(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Api]:
    """The API without its router: this is about accepting. With journeys that watch
    segments (timed too), so every call also has her membership evaluated and recorded."""
    async with open_api(settings.model_copy(update={"router": False}), env.client,
                        journeys=(*JOURNEYS, OnlyForProbe, JoinsProbe, LapsedProbe)) as api:
        yield api
        # Hundreds of fuzzed events wait to be routed in the session's database: the
        # next test's router must not spend its time starting journeys for them.
        async with api.sessions() as session:
            await session.execute(update(Event).where(Event.route_state == "pending")
                                  .values(route_state="discarded"))
            await session.commit()


@hsettings(max_examples=150, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                  HealthCheck.function_scoped_fixture])
@given(call=calls, zipped=st.booleans(), browser=st.booleans())
async def test_no_input_gets_a_5xx_and_nothing_is_half_written(
    quiet_api: Api, sessions: Any, call: tuple[str, Any], zipped: bool, browser: bool
) -> None:
    path, body = call
    ids = fresh_ids(body)
    headers = {**AUTH, "Content-Type": "application/json"}
    if browser and isinstance(body, dict):
        # As analytics.js sends it: the short path, the key in a text/plain body.
        path, body["writeKey"] = ("b" if path == "batch" else path[0]), WRITE_KEY
        headers = {"Content-Type": "text/plain"}
    raw = encode(body)
    if zipped:
        raw, headers["Content-Encoding"] = gzip.compress(raw), "gzip"
    response = await quiet_api.http.post(f"/v1/{path}", content=raw, headers=headers)
    # From a browser, linking ids or setting an email without her token is a 403 (api/proof.py).
    assert response.status_code in (OK | {403} if browser else OK), (response.status_code, response.text, raw[:300])
    event(f"{path} {response.status_code}")
    async with sessions() as session:
        stored = (await session.scalars(select(Event).where(Event.message_id.in_(ids)))).all()
        for row in stored:  # what was stored reads back
            assert isinstance(row.properties, dict)
            profile = await session.get(Customer, row.customer_id)
            assert profile is not None, "the profile came with it"
            assert facts_of(profile).orders_count >= 0, "and its facts read back"
            if row.route_state == "pending":  # wanted by a journey: her segments came with it
                assert row.segments is not None and set(row.segments) == {"in", "joined", "left"}
    if response.status_code == 200:
        assert len(stored) == len(set(ids)), "accepted whole"
    else:
        assert "error" in response.json()
        assert stored == [], "refused whole"


async def test_a_huge_body_is_refused_without_reading_it_whole(env: WorkflowEnvironment, settings: Settings) -> None:
    """A body over the limit is cut off at the limit, declared length or not."""
    sent = 0

    async def endless() -> Any:
        nonlocal sent
        chunk = b" " * 65536
        for _ in range(300 * 16):  # 300 MB if it were all read
            sent += len(chunk)
            yield chunk

    async with open_api(settings.model_copy(update={"router": False}), env.client) as api:
        response = await api.http.post("/v1/batch", content=endless(), headers=AUTH)
        assert response.status_code == 413 and "limit" in response.json()["error"]
        assert sent < 2 * 1024 * 1024, f"read {sent} bytes"
        declared = await api.http.post("/v1/batch", content=b"{}", headers={**AUTH, "Content-Length": "314572800"})
        assert declared.status_code == 413


path_segments = st.one_of(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=80),
                          st.sampled_from(["a.%C3%A9", "a.b", "x" * 3000, "..%2f..", "YWJj.Zm9v"]))


@hsettings(max_examples=60, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(segment=path_segments, path=st.sampled_from(["/v1/c/{}", "/v1/r/{}", "/v1/unsubscribe/{}", "/v1/confirm/{}",
                                                     "/v1/customers/{}", "/v1/segments",
                                                     "/v1/projects/{}/settings"]))
async def test_no_link_token_or_customer_id_gets_a_5xx(quiet_api: Api, segment: str, path: str) -> None:
    """Links carry tokens anyone can type; operators look customers up by any id."""
    url = path.format(quote(segment, safe="") if "%" not in segment else segment)
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"} if "customers" in path or "segments" in path else {}
    for method in ("GET", "POST") if "unsubscribe" in path or "confirm" in path else ("GET",):
        response = await quiet_api.http.request(method, url, headers=headers)
        assert response.status_code < 500, (method, url[:120], response.status_code, response.text[:200])


@hsettings(max_examples=60, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                  HealthCheck.function_scoped_fixture])
@given(call=calls)
async def test_no_import_gets_a_5xx_and_it_is_history_whole_or_not_at_all(
    quiet_api: Api, sessions: Any, call: tuple[str, Any]
) -> None:
    """#27: POST /v1/import takes the same bodies as a batch; what it stores is whole,
    and every event of it is history: nothing waits to be routed."""
    _, body = call
    ids = fresh_ids(body)
    response = await quiet_api.http.post("/v1/import", content=encode(body),
                                         headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code in OK, (response.status_code, response.text)
    async with sessions() as session:
        stored = (await session.scalars(select(Event).where(Event.message_id.in_(ids)))).all()
    assert all(row.route_state == "routed" for row in stored), "history starts and wakes nothing"
    assert len(stored) == (len(set(ids)) if response.status_code == 200 else 0), "whole or not at all"


# Coupon pools: what an operator (or a script) may send to fill one.
offers = st.one_of(st.sampled_from(["first_order", "fuzz-offer", "a.b_c-1"]), path_segments)
generate_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"count": st.one_of(st.integers(-5, 2000), leaves), "prefix": leaves,
                                        "length": st.one_of(st.integers(-1, 40), leaves),
                                        "low_stock": st.one_of(st.integers(-3, 10), leaves)}),
    json_values,
)
csv_bodies = st.one_of(
    st.lists(st.lists(st.one_of(plain_text, texts, st.sampled_from(["code", "expires_at", "2030-01-01", "x" * 70])),
                      max_size=3), max_size=6).map(lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
)


@hsettings(max_examples=80, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(offer=offers, body=generate_bodies, csv_body=csv_bodies)
async def test_no_coupon_pool_request_gets_a_5xx(quiet_api: Api, offer: str, body: Any, csv_body: bytes) -> None:
    path = quote(offer, safe="") if "%" not in offer else offer
    auth = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    made = await quiet_api.http.post(f"/v1/coupons/{path}/generate", content=json.dumps(body).encode(),
                                     headers={**auth, "Content-Type": "application/json"})
    assert made.status_code in (201, 400, 404, 405, 422), (made.status_code, made.text[:200])
    brought = await quiet_api.http.post(f"/v1/coupons/{path}/import", content=csv_body,
                                        headers={**auth, "Content-Type": "text/csv"})
    assert brought.status_code in (201, 400, 404, 405, 422), (brought.status_code, brought.text[:200])
    listed = await quiet_api.http.get("/v1/coupons", headers=auth)
    assert listed.status_code == 200


# #27's inputs: a friend landing through a referral link, the marketer's stories, the
# product feed's replenish_days, a product page, the shop's funnel window.
story_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={
        "title": texts, "kind": st.one_of(st.sampled_from(["campaign", "product", "collection"]), texts),
        "url": st.one_of(st.sampled_from(["https://beauty.test/c/x", "javascript:alert(1)"]), texts),
        "image_url": st.one_of(st.none(), texts), "category": st.one_of(st.none(), texts),
        "position": st.one_of(st.integers(-5, 20_000), leaves), "active": leaves}),
    json_values)
dates = st.one_of(st.none(), st.sampled_from(["2025-01-10", "2025-13-40", "1900-01-01", "9999-12-31"]), plain_text)


@hsettings(max_examples=60, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(who=path_segments, code=st.one_of(texts, json_values), story=path_segments, body=story_bodies,
       days=st.one_of(st.integers(-5, 400), leaves), since=dates, until=dates)
async def test_no_27_input_gets_a_5xx_nor_is_half_written(
        quiet_api: Api, sessions: Any, who: str, code: Any, story: str, body: Any, days: Any,
        since: str | None, until: str | None) -> None:
    api, json_type = quiet_api.http, {"Content-Type": "application/json"}
    backend, operator = {"Authorization": basic(SERVER_KEY)}, {"Authorization": f"Bearer {OPERATOR_KEY}"}
    path = quote(who, safe="") if "%" not in who else who
    landed = await api.post(f"/v1/customers/{path}/referral", content=encode({"code": code}),
                            headers={**backend, **json_type})
    assert landed.status_code in (200, 400, 403, 404, 405), (landed.status_code, landed.text[:200])

    story_path = quote(story, safe="") if "%" not in story else story
    put = await api.put(f"/v1/stories/{story_path}", content=encode(body), headers={**operator, **json_type})
    assert put.status_code in (204, 400, 404, 405), (put.status_code, put.text[:200])
    listed = await api.get("/v1/stories", headers=operator)
    assert listed.status_code == 200
    if put.status_code == 204:  # whole: every field as sent
        [kept] = [s for s in listed.json()["stories"] if s["story_id"] == story]
        assert kept["title"] == body["title"] and kept["kind"] == body["kind"]
    for read in (f"/v1/customers/{path}/stories", f"/v1/customers/{path}/product-page/{story_path}"):
        got = await api.get(read, headers=backend)
        assert got.status_code in (200, 400, 403, 404, 405), (read, got.status_code, got.text[:200])

    fed = await api.put(f"/v1/products/{story_path}", content=encode({"name": "x", "replenish_days": days}),
                    headers={**backend, **json_type})
    assert fed.status_code in (204, 400, 404, 405), (fed.status_code, fed.text[:200])
    query = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
    funnel = await api.get("/v1/funnel", params=query, headers=operator)
    assert funnel.status_code in (200, 400), (funnel.status_code, funnel.text[:200])
