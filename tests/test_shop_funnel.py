"""The shop's own funnel (visits → product views → cart → checkout → order) per day and
per segment, against the guide's 3.08%, on a scripted shop whose days no other test
touches, worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Api

DAY1 = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
M = timedelta(minutes=1)


async def test_the_shops_funnel_per_day_and_per_segment(api: Api, customer_id: str) -> None:
    """Day 1: v1 goes all the way in one visit; v2 views and adds, then comes back two
    hours later for a look (two visits); v3 only looks; v4 views a product. Day 2: v5
    lands and orders. By hand, day 1: 5 visits, 3 with a product view, 2 with a cart, 1
    checkout, 1 order (20%); day 2: 1 visit, 1 order (100%); all: 6 visits, 2 orders.
    Who has purchased (v1, v5): 2 visits, 2 orders; who never purchased (v2, v3, v4): 4
    visits, none."""
    v = {n: f"{customer_id}-v{n}" for n in range(1, 6)}

    async def page(who: str, at: datetime) -> None:
        assert (await api.post("/v1/page", {"userId": who, "name": "Shop", "properties": {"path": "/"},
                                            "timestamp": at.isoformat()})).status_code == 200

    async def track(who: str, event: str, at: datetime, **props: Any) -> None:
        assert (await api.track(who, event, props, timestamp=at.isoformat())).status_code == 200

    await page(v[1], DAY1)
    for n, event in enumerate(("Product Viewed", "Product Added", "Checkout Started", "Order Completed"), 1):
        await track(v[1], event, DAY1 + n * M, product_id="p-1", order_id=f"o-{v[1]}")
    await page(v[2], DAY1 + 10 * M)
    await track(v[2], "Product Viewed", DAY1 + 11 * M, product_id="p-1")
    await track(v[2], "Product Added", DAY1 + 12 * M, product_id="p-1")
    await page(v[2], DAY1 + 132 * M)
    await page(v[3], DAY1 + 20 * M)
    await page(v[4], DAY1 + 30 * M)
    await track(v[4], "Product Viewed", DAY1 + 31 * M, product_id="p-2")
    await page(v[5], DAY2)
    await track(v[5], "Order Completed", DAY2 + 5 * M, order_id=f"o-{v[5]}")

    found = (await api.operator("GET", "/v1/funnel?since=2025-01-10&until=2025-01-11")).json()
    assert found["benchmark"] == 0.0308
    assert found["days"] == [
        {"day": "2025-01-10", "visits": 5, "product_views": 3, "carts": 2, "checkouts": 1, "orders": 1,
         "conversion": 0.2},
        {"day": "2025-01-11", "visits": 1, "product_views": 0, "carts": 0, "checkouts": 0, "orders": 1,
         "conversion": 1.0}]
    assert found["total"] == {"visits": 6, "product_views": 3, "carts": 2, "checkouts": 1, "orders": 2,
                              "conversion": 2 / 6}
    segments = {row["segment"]: row for row in found["segments"]}
    assert (segments["has_purchased"]["visits"], segments["has_purchased"]["orders"]) == (2, 2)
    assert (segments["never_purchased"]["visits"], segments["never_purchased"]["orders"]) == (4, 0)

    refused = await api.operator("GET", "/v1/funnel?since=2025-01-12&until=2025-01-11")
    assert refused.status_code == 400 and "since" in refused.text
    assert (await api.http.get("/v1/funnel")).status_code == 401
    dashboard = await api.http.get("/dashboard", auth=("operator", "test-operator-key"))
    assert dashboard.status_code == 200 and 'id="shop-funnel"' in dashboard.text and "3.08%" in dashboard.text
