"""What her page shows beyond her profile, from Sojourn's own records (never a call to
Temporal per run; api/routes/customers.py adds one visibility call for all her runs):

- **What she was sent and what she did with it**, per run: each message (step, channel,
  outcome, when), and whether she opened it (a person's open, never a machine's:
  sojourn/intelligence/engagement.py) and clicked it (a tracked link, an on-site click).
- **Her interests**: the categories and products she looks at most, recency weighted:
  each view counts 0.5^(age / 14 days), an add to cart counts double; the last 90 days.
- **Her best channel and hour**: what `best_channel` and `wait_for_best_time` would
  choose for her now (the same functions), with their reasons.
- **Her coupons** and their state.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.models import CouponCode, Event, Message, aware, utcnow
from sojourn.intelligence import besttime, engagement

HALF_LIFE = timedelta(days=14)
INTEREST_WINDOW = timedelta(days=90)
LOOKS = {"Product Viewed": 1.0, "Product Added": 2.0}
OPENS_AND_CLICKS = ("Email Opened", "Message Clicked", "Onsite Message Clicked")
CHANNELS = ["push", "email", "onsite"]


def _when(value: datetime | None) -> str | None:
    return aware(value).isoformat() if value is not None else None


async def sends(session: AsyncSession, customer_id: str) -> dict[str, list[dict[str, Any]]]:
    """Her messages by run (workflow id), oldest first, each with what she did with it."""
    rows = (await session.scalars(select(Message).where(
        Message.customer_id == customer_id, Message.channel != "push-delivery").order_by(Message.id))).all()
    opened: set[str] = set()
    clicked: set[str] = set()
    clicked_steps: set[tuple[str, str]] = set()  # an on-site click names its run and step
    for name, props in await session.execute(select(Event.name, Event.properties).where(
            Event.customer_id == customer_id, Event.name.in_(OPENS_AND_CLICKS))):
        props = props if isinstance(props, dict) else {}
        key = props.get("message_id")
        if name == "Onsite Message Clicked":
            if isinstance(props.get("workflow_id"), str) and isinstance(props.get("step"), str):
                clicked_steps.add((props["workflow_id"], props["step"]))
        elif not isinstance(key, str):
            continue
        elif name == "Email Opened":
            if props.get("machine") is False:
                opened.add(key)
        else:
            clicked.add(key)
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in rows:
        found[m.workflow_id].append({
            "step": m.step, "channel": m.channel, "status": m.status, "detail": m.detail,
            "sent_at": _when(m.sent_at), "claimed_at": _when(m.created_at), "content_version": m.content_version,
            "opened": m.idempotency_key in opened,
            "clicked": m.idempotency_key in clicked or (m.workflow_id, m.step) in clicked_steps,
        })
    return dict(found)


async def interests(session: AsyncSession, customer_id: str, now: datetime, limit: int = 5) -> dict[str, Any]:
    weights: dict[str, dict[str, float]] = {"categories": defaultdict(float), "products": defaultdict(float)}
    names: dict[str, str] = {}
    for name, props, at in await session.execute(select(Event.name, Event.properties, Event.timestamp).where(
            Event.customer_id == customer_id, Event.type == "track", Event.name.in_(tuple(LOOKS)),
            Event.timestamp >= now - INTEREST_WINDOW)):
        props = props if isinstance(props, dict) else {}
        age = max(timedelta(0), now - aware(at))
        weight = LOOKS[name] * 0.5 ** (age / HALF_LIFE)
        category, product = props.get("category"), props.get("product_id") or props.get("sku")
        if isinstance(category, str) and category:
            weights["categories"][category[:255]] += weight
        if isinstance(product, (str, int)) and str(product):
            weights["products"][str(product)[:255]] += weight
            if isinstance(props.get("name"), str):
                names[str(product)[:255]] = props["name"][:255]
    return {
        "half_life_days": HALF_LIFE.days,
        "categories": [{"category": c, "weight": round(w, 3)} for c, w in _top(weights["categories"], limit)],
        "products": [{"product_id": p, "name": names.get(p), "weight": round(w, 3)}
                     for p, w in _top(weights["products"], limit)],
    }


def _top(weights: dict[str, float], limit: int) -> list[tuple[str, float]]:
    return sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


async def best(session: AsyncSession, customer_id: str, now: datetime, timezone: str) -> dict[str, Any]:
    """Her best channel and hour, as the journeys' kit would choose them now."""
    stats = await engagement.history(session, customer_id, now)
    chosen = engagement.choose(CHANNELS, stats, await engagement.reachable(session, customer_id))
    tz = ZoneInfo(timezone)
    hers = await besttime.her_hours(session, customer_id, tz, now)
    at, reason = besttime.best_moment(now, timedelta(days=7), tz, hers, await besttime.shop_hours(session))
    return {"channel": {"channel": chosen.channel, "reason": chosen.reason, "history": engagement.describe(stats)},
            "hour": {"next": at.isoformat(), "timezone": timezone, "reason": reason}}


async def coupons(session: AsyncSession, customer_id: str) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(CouponCode).where(CouponCode.customer_id == customer_id)
                                  .order_by(CouponCode.assigned_at, CouponCode.id))).all()
    now = utcnow()
    return [{"offer": c.offer, "code": c.code,
             "state": "expired" if c.state == "assigned" and c.expires_at is not None and aware(c.expires_at) < now
             else c.state,
             "assigned_at": _when(c.assigned_at), "expires_at": _when(c.expires_at),
             "redeemed_at": _when(c.redeemed_at), "workflow_id": c.workflow_id} for c in rows]
