"""A generated shop with planted behaviour, for the likelihood model's tests and bench
(bench/likelihood.py): what truly predicts an order is her cart, not how recently she
was seen.

Three kinds of shopper, each day deciding whether to visit:
- **browsers** visit often, view a lot, rarely add to a cart and almost never order:
  recent, busy, and not buying, which is what fools recency alone;
- **buyers** visit less, and an add to the cart is followed by an order within a few
  days, most of the time;
- **sleepers** visit now and then and order rarely.

`events()` returns tuples (customer_id, name, type, timestamp, properties), the shape
`sojourn/intelligence/likelihood.sample` reads; `store()` writes them as stored, routed
history (`make dev` gives the demo shop such a past, so its likelihood model trains)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.models import Customer, Event, table

KINDS = {  # visit chance a day, views a visit, add-to-cart chance a visit, order chance after an add
    "browser": (0.45, 6, 0.05, 0.05),
    "buyer": (0.15, 3, 0.45, 0.75),
    "sleeper": (0.04, 2, 0.2, 0.3),
}
MIX = (("browser", 0.35), ("buyer", 0.3), ("sleeper", 0.35))
# (product_id, category) a shopper looks at, unless the shop has its own catalog.
PRODUCTS = tuple((f"p-{n}", ("lips", "skin", "eyes")[n % 3]) for n in range(40))
STORE_ROWS = 5000  # events per INSERT


def events(customers: int, days: int, now: datetime, seed: int = 7, prefix: str = "shopper",
           products: tuple[tuple[str, str], ...] = PRODUCTS) -> list[tuple[str, str, str, datetime, dict[str, Any]]]:
    rng = random.Random(seed)
    found: list[tuple[str, str, str, datetime, dict[str, Any]]] = []
    start = now - timedelta(days=days)
    for n in range(customers):
        who = f"{prefix}-{n}"
        roll, kind = rng.random(), "sleeper"
        for name, share in MIX:
            if roll < share:
                kind = name
                break
            roll -= share
        visit, views, add, order = KINDS[kind]
        pending: datetime | None = None
        for day in range(days):
            at = start + timedelta(days=day, hours=rng.uniform(8, 22))
            if pending is not None and at >= pending:
                found.append((who, "Order Completed", "track", pending,
                              {"order_id": f"{who}-{day}", "revenue": round(rng.uniform(15, 120), 2)}))
                pending = None
            if rng.random() >= visit:
                continue
            for v in range(1 + rng.randrange(views)):
                product, category = rng.choice(products)
                found.append((who, "Product Viewed", "track", at + timedelta(minutes=v),
                              {"product_id": product, "category": category}))
            if rng.random() < add:
                found.append((who, "Product Added", "track", at + timedelta(minutes=30),
                              {"product_id": products[1 % len(products)][0]}))
                if pending is None and rng.random() < order:
                    pending = at + timedelta(days=rng.uniform(0.5, 6))
        if pending is not None and pending < now:
            found.append((who, "Order Completed", "track", pending, {"order_id": f"{who}-last", "revenue": 40.0}))
    found.sort(key=lambda e: e[3])
    return found


async def store(session: AsyncSession, found: list[tuple[str, str, str, datetime, dict[str, Any]]],
                now: datetime) -> list[str]:
    """The shoppers (known, no traits) and their events, stored as routed history: no
    journey starts for them and no fact is derived (so no segment sweep finds them);
    what reads the events (the likelihood model, recommendations, the funnel) sees them.
    Returns the shoppers' ids. The caller commits."""
    ids = sorted({e[0] for e in found})
    await session.execute(insert(table(Customer)), [
        {"id": c, "traits": {}, "known": True, "created_at": now, "updated_at": now} for c in ids])
    for start in range(0, len(found), STORE_ROWS):
        await session.execute(insert(table(Event)), [
            {"message_id": f"{c}-{n}", "type": kind, "customer_id": c, "user_id": c, "name": name,
             "properties": props, "context": {}, "timestamp": at, "route_state": "routed"}
            for n, (c, name, kind, at, props) in enumerate(found[start:start + STORE_ROWS], start)])
    return ids
