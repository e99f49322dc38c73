"""Customer facts: what a customer has done, derived from Segment's e-commerce and
lifecycle spec events, kept by the store in the same transaction as the events (so the
router never sees an event before the facts that follow from it).

| event                                   | facts it changes |
| --- | --- |
| every message                           | `first_seen_at` (the first time), `last_seen_at`; `platform` from `context` (`os.name`, else `device.type`, else the library: `web` for analytics.js) |
| track "Order Completed"                 | `orders_count` + 1, `revenue` + (`revenue`, else `total`, else `value`), `first_order_at` (the first time), `last_order_at`, `last_order_products` (its product ids, at most 10) |
| track "Order Refunded"                  | `revenue` - its amount (never below 0); without `products` it is a full refund: `orders_count` - 1 (never below 0) |
| track "Product Viewed"                  | `recently_viewed`: its product id first, distinct, at most 20 |
| track "Signed Up"                       | `signed_up_at` (the first time) |
| track "Newsletter Subscribed" / "Newsletter Unsubscribed" | `newsletter_subscribed` true / false |
| identify with a boolean `newsletter` or `newsletter_subscribed` trait | `newsletter_subscribed` |
| track "Application Installed"           | `app_installed_at` (the first time) |
| track "Loyalty Signed Up"               | `loyalty_member_at` (the first time) |
| identify with a boolean `loyalty_member` or `loyaltyMember` trait | `loyalty_member_at`: the message's time if not set yet (true), none (false: she left the programme) |

The rules are pure functions of the stored facts and one message, applied in the
order the messages were received.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sojourn.ground.calls import Call

LAST_ORDER_PRODUCTS = 10
RECENTLY_VIEWED = 20
NEWSLETTER_TRAITS = ("newsletter", "newsletter_subscribed")
LOYALTY_TRAITS = ("loyalty_member", "loyaltyMember")


@dataclass
class Facts:
    """What a customer has done, as the pipeline keeps it (sojourn/ground/facts.py says
    which event changes which). Segments are predicates over these."""

    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    platform: str | None = None
    orders_count: int = 0
    revenue: float = 0.0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    last_order_products: list[str] = field(default_factory=list)
    recently_viewed: list[str] = field(default_factory=list)
    signed_up_at: datetime | None = None
    newsletter_subscribed: bool | None = None
    app_installed_at: datetime | None = None
    loyalty_member_at: datetime | None = None
    # Her chance of an order within the likelihood model's horizon (None: no model, or
    # not scored): written by the model's runs, never by her events (DERIVED).
    purchase_likelihood: float | None = None


DERIVED = ("purchase_likelihood",)  # facts the pipeline reads but never writes back


def facts_of(row: Any) -> Facts:
    """The facts held on a customer row (or any object with these attributes)."""
    values = {f.name: getattr(row, f.name) for f in fields(Facts)}
    for name, value in values.items():  # SQLite hands back naive datetimes: they are UTC
        if isinstance(value, datetime) and value.tzinfo is None:
            values[name] = value.replace(tzinfo=UTC)
    facts = Facts(**values)
    facts.orders_count = facts.orders_count or 0
    facts.revenue = facts.revenue or 0.0
    facts.last_order_products = list(facts.last_order_products or [])
    facts.recently_viewed = list(facts.recently_viewed or [])
    return facts


def as_columns(facts: Facts) -> dict[str, Any]:
    return {f.name: getattr(facts, f.name) for f in fields(Facts)}


def platform_of(context: dict[str, Any]) -> str | None:
    for path in (("os", "name"), ("device", "type")):
        value: Any = context
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip().lower()[:32]
    library = context.get("library")
    name = library.get("name") if isinstance(library, dict) else None
    if isinstance(name, str) and name in ("analytics.js", "analytics-next", "@segment/analytics-next"):
        return "web"
    return None


def amount(properties: dict[str, Any]) -> float:
    for name in ("revenue", "total", "value"):
        value = properties.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return 0.0


def product_ids(properties: dict[str, Any]) -> list[str]:
    products = properties.get("products")
    ids = []
    for product in products if isinstance(products, list) else []:
        if isinstance(product, dict):
            pid = product.get("product_id") or product.get("sku")
            if isinstance(pid, (str, int)) and not isinstance(pid, bool) and str(pid):
                ids.append(str(pid)[:255])
    return ids


def apply(facts: Facts, message: Call, at: datetime) -> Facts:
    """The facts after `message`, received `at`. Seen times are when Sojourn received
    the message; an order's, a sign-up's and an install's time is the event's own
    timestamp (so a backfill of past orders dates them right). Never raises on odd
    properties: the API checked the spec's types, and anything else is ignored."""
    facts.first_seen_at = facts.first_seen_at or at
    facts.last_seen_at = at
    when = message.timestamp
    facts.platform = platform_of(message.context) or facts.platform
    props = message.properties
    if message.type == "identify":
        for trait in NEWSLETTER_TRAITS:
            if isinstance(message.traits.get(trait), bool):
                facts.newsletter_subscribed = message.traits[trait]
        for trait in LOYALTY_TRAITS:
            if isinstance(message.traits.get(trait), bool):
                facts.loyalty_member_at = (facts.loyalty_member_at or when) if message.traits[trait] else None
        return facts
    if message.type != "track":
        return facts
    if message.name == "Order Completed":
        facts.orders_count += 1
        facts.revenue = round(facts.revenue + max(amount(props), 0.0), 2)
        facts.first_order_at = min(facts.first_order_at, when) if facts.first_order_at else when
        facts.last_order_at = max(facts.last_order_at, when) if facts.last_order_at else when
        facts.last_order_products = product_ids(props)[:LAST_ORDER_PRODUCTS]
    elif message.name == "Order Refunded":
        facts.revenue = round(max(facts.revenue - max(amount(props), 0.0), 0.0), 2)
        if not product_ids(props):  # no products listed: the whole order
            facts.orders_count = max(facts.orders_count - 1, 0)
    elif message.name == "Product Viewed":
        pid = props.get("product_id") or props.get("sku")
        if isinstance(pid, (str, int)) and not isinstance(pid, bool) and str(pid):
            pid = str(pid)[:255]
            facts.recently_viewed = [pid, *(p for p in facts.recently_viewed if p != pid)][:RECENTLY_VIEWED]
    elif message.name == "Signed Up":
        facts.signed_up_at = facts.signed_up_at or when
    elif message.name in ("Newsletter Subscribed", "Newsletter Unsubscribed"):
        facts.newsletter_subscribed = message.name == "Newsletter Subscribed"
    elif message.name == "Application Installed":
        facts.app_installed_at = facts.app_installed_at or when
    elif message.name == "Loyalty Signed Up":
        facts.loyalty_member_at = facts.loyalty_member_at or when
    return facts
