"""#27, a shop's history is not a live event: a year of backdated orders, views and
sign-ups, imported through POST /v1/import (the `sojourn import` CLI's path), starts no
journey and sends nothing, yet her facts and the recommendations reflect it, and the
recommended products carry their names (learned from the orders' lines). A backdated
event through the ordinary API, older than the entry window, is history too."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from sojourn.devtools.history import BATCH_MESSAGES, HistoryError, import_file
from sojourn.ground.models import Customer, Event, JourneyRun
from sojourn.ground.settings import Settings
from sojourn.intelligence import catalog
from tests.conftest import SERVER_KEY, WRITE_KEY, Api, basic, open_api
from tests.support.smtp import Inbox
from worker import build_worker

SERVER = {"Authorization": basic(SERVER_KEY)}


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as opened:
        yield opened


def a_year_of(shop: str, customers: int = 100, orders: int = 300) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Sign-ups, views and orders over the last year, at their real times; each order
    has a lipstick and, most of the time, its mascara."""
    rng = random.Random(shop)
    now = datetime.now(UTC)
    products = {f"{shop}-{n}": {"name": f"Product {n}", "price": 10.0 + n, "url": f"https://beauty.test/p/{n}",
                                "category": "lips" if n % 2 else "eyes"} for n in range(8)}
    ids = list(products)
    people = [f"{shop}-c{n}" for n in range(customers)]
    calls: list[dict[str, Any]] = []

    def at(days_ago: float) -> str:
        return (now - timedelta(days=days_ago)).isoformat()

    for who in people:
        joined = rng.uniform(200, 360)
        calls.append({"type": "identify", "userId": who, "messageId": f"{who}-identify", "timestamp": at(joined),
                      "traits": {"email": f"{who}@mail.test", "firstName": "Past"}})
        calls.append({"type": "track", "userId": who, "event": "Signed Up", "messageId": f"{who}-signup",
                      "timestamp": at(joined)})
    counts = dict.fromkeys(people, 0)
    for n in range(orders):
        who = people[n % customers]
        first, second = ids[rng.randrange(0, 8, 2)], None
        lines = [{"product_id": first, "quantity": 1, **products[first]}]
        if rng.random() < 0.8:
            second = ids[ids.index(first) + 1]
            lines.append({"product_id": second, "quantity": 1, **products[second]})
        when = at(rng.uniform(2, 190))
        calls.append({"type": "track", "userId": who, "event": "Product Viewed", "messageId": f"{shop}-v{n}",
                      "timestamp": when, "properties": {"product_id": first}})
        calls.append({"type": "track", "userId": who, "event": "Order Completed", "messageId": f"{shop}-o{n}",
                      "timestamp": when, "properties": {"order_id": f"{shop}-o{n}", "revenue": 25.0,
                                                        "products": lines}})
        counts[who] += 1
    return calls, counts


async def test_a_year_of_orders_starts_nothing_and_teaches_everything(
        api: Api, inbox: Inbox, sessions: Any, tmp_path: Path, customer_id: str) -> None:
    shop = customer_id
    calls, counts = a_year_of(shop)
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(call) + "\n" for call in calls))

    async def post(batch: list[dict[str, Any]]) -> dict[str, Any]:
        answer = await api.http.post("/v1/import", json={"batch": batch}, headers=SERVER)
        if answer.status_code != 200:
            raise HistoryError(f"{answer.status_code} {answer.text}")
        return dict(answer.json())

    said: list[str] = []
    done = await import_file(path, post, progress=said.append)
    assert (done.sent, done.stored) == (len(calls), len(calls))
    assert done.batches == -(-len(calls) // BATCH_MESSAGES) and len(said) == done.batches, said
    again = await import_file(path, post, progress=said.append)
    assert (again.sent, again.stored) == (len(calls), 0), "a rerun stores nothing twice"
    await api.settled()

    people = list(counts)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(JourneyRun).where(
            JourneyRun.customer_id.in_(people))) == 0, "no journey started"
        assert await session.scalar(select(func.count()).select_from(Event).where(
            Event.customer_id.in_(people), Event.route_state != "routed")) == 0, "nothing waits to be routed"
        facts = {c.id: c for c in await session.scalars(select(Customer).where(Customer.id.in_(people)))}
        assert {who: facts[who].orders_count for who in people} == counts
        assert all(facts[who].signed_up_at is not None and facts[who].first_order_at is not None for who in people)
        await catalog.refresh(session)
    assert all(inbox.to(who) == [] for who in people), "nobody was mailed"

    # Each lipstick's page recommends its mascara, by name, price and link: learned from order lines only.
    answer = await api.http.get(f"/v1/products/{shop}-0/recommendations", params={"kind": "bought_together"},
                                headers={"Authorization": basic(WRITE_KEY)})
    assert answer.status_code == 200, answer.text
    [first, *_] = answer.json()["products"]
    assert (first["product_id"], first["name"], first["price"], first["url"]) == (
        f"{shop}-1", "Product 1", 11.0, "https://beauty.test/p/1")


async def test_the_import_is_the_shops_alone(api: Api, customer_id: str, tmp_path: Path) -> None:
    body = {"batch": [{"type": "track", "userId": customer_id, "event": "Order Completed", "messageId": "x"}]}
    refused = await api.http.post("/v1/import", json=body, headers={"Authorization": basic(WRITE_KEY)})
    assert refused.status_code == 403 and "server key" in refused.text
    assert (await api.http.post("/v1/import", json=body)).status_code == 401
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "track"}\nnot json\n')

    async def never(batch: list[dict[str, Any]]) -> dict[str, Any]:
        raise AssertionError("nothing is sent before the file is read right")

    with pytest.raises(HistoryError, match="line 2: not JSON"):
        await import_file(bad, never)


async def test_a_backdated_event_is_history_a_recent_one_is_live(api: Api, sessions: Any, settings: Settings,
                                                                 customer_id: str) -> None:
    """Through the ordinary API with the server key: older than the entry window (an
    hour by default) when it arrives, a cart starts nothing; inside it, it does."""
    now = datetime.now(UTC)
    for who, ago in ((f"{customer_id}-old", timedelta(hours=2)), (customer_id, timedelta(minutes=10))):
        answer = await api.post("/v1/track", {"userId": who, "event": "Product Added", "messageId": str(uuid.uuid4()),
                                              "timestamp": (now - ago).isoformat(),
                                              "properties": {"product_id": "p1", "price": 10}})
        assert answer.status_code == 200, answer.text
    await api.settled()
    async with sessions() as session:
        started = dict((await session.execute(select(JourneyRun.customer_id, func.count()).where(
            JourneyRun.customer_id.in_([customer_id, f"{customer_id}-old"])).group_by(JourneyRun.customer_id))).all())
    assert started == {customer_id: 1}, started
    # A shop whose devices queue events for longer widens the window.
    wide = settings.model_copy(update={"entry_window_seconds": 3 * 3600})
    async with open_api(wide, api.client) as widened:
        late = f"{customer_id}-late"
        await widened.post("/v1/track", {"userId": late, "event": "Product Added", "messageId": str(uuid.uuid4()),
                                         "timestamp": (now - timedelta(hours=2)).isoformat(),
                                         "properties": {"product_id": "p1"}})
        await widened.settled()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(JourneyRun).where(
            JourneyRun.customer_id == late)) == 1
