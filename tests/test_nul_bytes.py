"""#26.9: NUL (which PostgreSQL refuses in text) and lone surrogates (not UTF-8) in any
path parameter, query parameter or body field that reaches the database: a 400 that
names the field, never a 500, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.conftest import OPERATOR_KEY, SERVER_KEY, Api, basic
from tests.support.push_receiver import PushReceiver

SERVER = {"Authorization": basic(SERVER_KEY)}
OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}
NUL_ID = quote("lisa\x00", safe="")


def refused(answer: Any, field: str) -> None:
    assert answer.status_code == 400, (answer.status_code, answer.text[:300])
    said = answer.json()
    text = said.get("error") or said.get("detail")
    assert field in text and "NUL" in text, text


async def test_a_customer_id_with_nul_in_the_operators_journeys_view(api: Api) -> None:
    refused(await api.http.get(f"/v1/customers/{NUL_ID}/journeys", headers=OPERATOR), "customer_id")
    refused(await api.http.get(f"/v1/customers/{NUL_ID}", headers=OPERATOR), "customer_id")


async def test_a_customer_id_with_nul_in_her_push_subscriptions(api: Api, push_service: PushReceiver) -> None:
    browser = push_service.browser("nul").subscription(push_service.base_url)
    refused(await api.http.post(f"/v1/customers/{NUL_ID}/push-subscriptions", json=browser, headers=SERVER),
            "customer_id")
    refused(await api.http.request("DELETE", f"/v1/customers/{NUL_ID}/push-subscriptions",
                                   params={"endpoint": browser["endpoint"]}, headers=SERVER), "customer_id")
    refused(await api.http.request("DELETE", "/v1/customers/lisa/push-subscriptions",
                                   params={"endpoint": browser["endpoint"] + "\x00"}, headers=SERVER), "endpoint")


async def test_a_push_endpoint_with_nul(api: Api, push_service: PushReceiver) -> None:
    browser = push_service.browser("nul-endpoint").subscription(push_service.base_url)
    browser["endpoint"] += "\x00"
    refused(await api.http.post("/v1/customers/lisa/push-subscriptions", json=browser, headers=SERVER), "endpoint")


async def test_a_customer_id_with_nul_in_her_on_site_messages(api: Api) -> None:
    refused(await api.http.get(f"/v1/customers/{NUL_ID}/messages", headers=SERVER), "customer_id")
    refused(await api.http.post(f"/v1/customers/{NUL_ID}/messages/1/ack", headers=SERVER), "customer_id")


async def test_a_suppression_with_nul_in_its_address_or_detail(api: Api) -> None:
    address = {"channel": "email", "address": "li\x00sa@example.com", "reason": "bounce"}
    refused(await api.operator_json("POST", "/v1/suppressions", address), "address")
    detail = {"channel": "email", "address": "lisa@example.com", "reason": "bounce", "detail": "5.1.1 \x00"}
    refused(await api.operator_json("POST", "/v1/suppressions", detail), "detail")
    refused(await api.operator("DELETE", f"/v1/suppressions/email/{NUL_ID}"), "address")


async def test_a_lone_surrogate_in_a_body_field(api: Api) -> None:
    # json.dumps writes "\ud800" as an escape: valid JSON text, not valid UTF-8 once decoded.
    body = json.dumps({"channel": "email", "address": "li\ud800sa@example.com", "reason": "bounce"})
    answer = await api.http.post("/v1/suppressions", content=body,
                                 headers={**OPERATOR, "Content-Type": "application/json"})
    assert answer.status_code == 400 and "address" in answer.json()["error"], answer.text


# Every route that reaches the database with a customer id, an address or an endpoint,
# driven with text that holds NUL and lone surrogates, from the role each one needs.
hazards = st.text(st.characters(codec=None, categories=None), min_size=1, max_size=12)
with_nul = st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=6), st.text(max_size=6))
values = st.one_of(hazards, with_nul, st.just("\ud800"), st.just("plain"))


def _path(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@hsettings(max_examples=80, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(customer=values, field=values, route=st.integers(0, 9))
async def test_no_nul_or_surrogate_gets_a_5xx(api: Api, push_service: PushReceiver, customer: str, field: str,
                                              route: int) -> None:
    cid = _path(customer)
    endpoint = f"{push_service.base_url}/push/{field}"
    subscription = {"endpoint": endpoint, "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22}}
    calls = [
        lambda: api.http.get(f"/v1/customers/{cid}/journeys", headers=OPERATOR),
        lambda: api.http.get(f"/v1/customers/{cid}", headers=OPERATOR),
        lambda: api.http.get(f"/v1/customers/{cid}/messages", headers=SERVER),
        lambda: api.http.post(f"/v1/customers/{cid}/push-subscriptions", content=json.dumps(subscription),
                              headers={**SERVER, "Content-Type": "application/json"}),
        lambda: api.http.request("DELETE", f"/v1/customers/{cid}/push-subscriptions",
                                 params={"endpoint": endpoint.encode("utf-8", "surrogatepass")}, headers=SERVER),
        lambda: api.http.post("/v1/suppressions", headers={**OPERATOR, "Content-Type": "application/json"},
                              content=json.dumps({"address": f"{field}@x.test", "reason": "bounce",
                                                  "detail": field})),
        lambda: api.http.request("DELETE", f"/v1/suppressions/email/{_path(field)}", headers=OPERATOR),
        lambda: api.http.get(f"/v1/customers/{cid}/recommendations", headers=SERVER),
        # The product feed and the codec endpoint (#26.7, #26.11): any field, any payload.
        lambda: api.http.put(f"/v1/products/{cid}", headers={**SERVER, "Content-Type": "application/json"},
                             content=json.dumps({"name": field, "price": len(field), "url": f"https://x.test/{field}",
                                                 "image_url": field, "category": field})),
        lambda: api.http.post("/v1/temporal/codec/decode", headers={**OPERATOR, "Content-Type": "application/json"},
                              content=json.dumps({"payloads": [{"metadata": {"encoding": field}, "data": field}]})),
    ]
    answer = await calls[route]()
    assert answer.status_code < 500, (route, customer, field, answer.status_code, answer.text[:200])
    # A lone surrogate in the path arrives as U+FFFD: a path's percent-decoding replaces
    # what isn't UTF-8, so no column ever sees it, and a 400 may then name another field
    # (the feed's image_url "0"). NUL survives decoding, and every hazard in a body does.
    hazardous = any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in field) or "\x00" in customer
    if hazardous and answer.status_code == 400:
        said = answer.json()
        assert "NUL" in (said.get("error") or said.get("detail") or ""), answer.text
