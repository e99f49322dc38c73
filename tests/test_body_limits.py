"""#26.8: every body is capped while it is read, before any credential is checked: a
huge body with no key is refused with a 413 after the cap, never buffered whole."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from api.calls import MAX_BATCH_BYTES, MAX_BODY_BYTES
from api.routes.coupons import MAX_CSV_BYTES
from sojourn.ground.settings import Settings
from sojourn.ground.signing import load_signer
from sojourn.identity.consent import ConsentRef, unsubscribe_token
from tests.conftest import OPERATOR_KEY, Api

CHUNK = 64 * 1024
HUGE = 1536 * 1024 * 1024  # what the attack sends: 1.5 GB, of which the API must read little


class Body:
    """A streamed body (no Content-Length) that counts what the API pulled off the wire."""

    def __init__(self, total: int = HUGE) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield b"x" * CHUNK


TRACKING = {f"/v1/{kind}" for kind in ("track", "identify", "page", "screen", "group", "alias", "batch")}
# Each route that takes a body, with no key at all: the cap comes before the 401.
NO_KEY = [
    ("POST", "/v1/suppressions", MAX_BODY_BYTES),
    ("POST", "/v1/unsubscribe/{unsubscribe}", MAX_BODY_BYTES),  # a real link: its form is read
    ("POST", "/v1/coupons/welcome/import", 0),  # read by the handler, after the key: nothing read
    ("POST", "/v1/coupons/welcome/generate", MAX_BODY_BYTES),
    ("POST", "/v1/customers/lisa/push-subscriptions", MAX_BODY_BYTES),
    ("POST", "/v1/customers/lisa/wheels/spin-to-win/spin", MAX_BODY_BYTES),
    ("POST", "/v1/browser/anonymous-token", MAX_BODY_BYTES),
    ("POST", "/v1/batch", MAX_BATCH_BYTES),
    ("POST", "/v1/t", MAX_BATCH_BYTES),
]


@pytest.mark.parametrize(("method", "path", "limit"), NO_KEY, ids=[p for _, p, _ in NO_KEY])
async def test_a_huge_body_without_a_key_is_refused_after_the_cap(api: Api, settings: Settings, sessions: Any,
                                                                   method: str, path: str, limit: int) -> None:
    signer = await load_signer(sessions, settings)
    path = path.format(unsubscribe=unsubscribe_token(signer, ConsentRef("lisa", "email", "marketing")))
    body = Body()
    answer = await api.http.request(method, path, content=body)
    if limit == 0:
        assert answer.status_code == 401 and body.pulled == 0, (answer.status_code, body.pulled)
        return
    assert answer.status_code == 413, (answer.status_code, answer.text[:200])
    assert str(limit) in answer.json()["error"], answer.text
    assert body.pulled <= limit + 2 * CHUNK, f"read {body.pulled} bytes of a body capped at {limit}"


async def test_the_csv_import_stops_reading_at_its_own_limit(api: Api) -> None:
    body = Body()
    answer = await api.http.post("/v1/coupons/welcome/import", content=body,
                                 headers={"Authorization": f"Bearer {OPERATOR_KEY}", "Content-Type": "text/csv"})
    assert answer.status_code == 413 and str(MAX_CSV_BYTES) in answer.json()["error"], answer.text
    assert body.pulled <= MAX_CSV_BYTES + 2 * CHUNK


async def test_no_route_that_takes_a_body_reads_past_its_cap(api: Api) -> None:
    """Every route in the API's schema, including the ones added after this test: with
    no key, a huge body is refused having read at most its cap."""
    routes = [(method.upper(), path) for path, item in api.app.openapi()["paths"].items()
              for method in item if method in ("post", "put", "patch", "delete")]
    assert len(routes) >= 15, routes
    for method, path in routes:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        body = Body()
        answer = await api.http.request(method, concrete, content=body)
        assert 400 <= answer.status_code < 500, (method, path, answer.status_code)
        limit = MAX_CSV_BYTES if path.endswith("/import") else (
            MAX_BATCH_BYTES if path in TRACKING else MAX_BODY_BYTES)
        assert body.pulled <= limit + 2 * CHUNK, (method, path, body.pulled)


async def test_a_declared_length_over_the_cap_is_refused_before_reading(api: Api) -> None:
    body = Body()
    answer = await api.http.post("/v1/suppressions", content=body,
                                 headers={"Content-Length": str(HUGE), "Authorization": f"Bearer {OPERATOR_KEY}"})
    assert answer.status_code == 413 and body.pulled <= CHUNK


async def test_the_csv_import_takes_files_up_to_its_own_documented_limit(api: Api) -> None:
    # Over the general cap, under the CSV's: accepted, every code in.
    codes = "code\n" + "".join(f"BIG-{i:07d}\n" for i in range(8000))
    assert MAX_BODY_BYTES < len(codes) < MAX_CSV_BYTES
    answer = await api.operator_csv("/v1/coupons/big-file/import", codes)
    assert answer.status_code == 201, answer.text
    assert answer.json()["imported"] == 8000
