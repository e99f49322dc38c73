"""The shop's own conversion funnel, where the founding guide starts: visits → product
views → cart → checkout → order, against the average e-commerce conversion rate it
quotes (3.08%), per day and per segment, beside the journeys' own funnels.

A visit is a session: her page views and shopping events with no gap of 30 minutes
(sojourn/analytics/sessions.py). A session reaches a stage when it holds that stage's
event (`Product Viewed`, `Product Added`, `Checkout Started`, `Order Completed`);
conversion is sessions with an order ÷ visits. A day is the UTC day the session began.
Per segment: the customers in it now (their facts as stored), over the same window.
Imported history counts too: it is the shop's past.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.analytics.sessions import cut
from sojourn.ground.facts import Facts, facts_of
from sojourn.ground.models import Customer, Event, aware, utcnow
from sojourn.ground.segments import Segment

BENCHMARK = 0.0308  # the guide's average e-commerce conversion rate
STAGES = (("visits", None), ("product_views", "Product Viewed"), ("carts", "Product Added"),
          ("checkouts", "Checkout Started"), ("orders", "Order Completed"))
EVENTS = tuple(name for _, name in STAGES if name)
CHUNK = 500  # customer ids per query
FACTS = [Customer.id, *(getattr(Customer, name) for name in Facts.__dataclass_fields__)]


def _row(counts: dict[str, int]) -> dict[str, Any]:
    visits = counts.get("visits", 0)
    return {**{stage: counts.get(stage, 0) for stage, _ in STAGES},
            "conversion": counts.get("orders", 0) / visits if visits else None}


async def report(session: AsyncSession, since: datetime, until: datetime,
                 segments: Sequence[Segment] = ()) -> dict[str, Any]:
    rows = await session.execute(
        select(Event.customer_id, Event.type, Event.name, Event.timestamp).where(
            Event.timestamp >= since, Event.timestamp < until,
            or_(Event.type.in_(("page", "screen")), (Event.type == "track") & Event.name.in_(EVENTS)))
        .order_by(Event.customer_id, Event.timestamp, Event.id))
    moments: dict[str, list[tuple[datetime, str | None]]] = defaultdict(list)
    for customer_id, type_, name, at in rows:
        moments[customer_id].append((aware(at), name if type_ == "track" else None))
    # Each customer's sessions, as (start, the stages reached).
    visits = {customer_id: [(visit[0][0], {"visits", *(stage for _, name in visit for stage, event in STAGES
                                                       if event is not None and event == name)})
                            for visit in cut(mine)]
              for customer_id, mine in moments.items()}
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sessions in visits.values():
        for start, reached in sessions:
            for stage in reached:
                per_day[start.date().isoformat()][stage] += 1
    by_segment: list[dict[str, Any]] = []
    if segments and visits:
        now = utcnow()  # who is in each segment now
        ids = list(visits)
        facts: dict[str, Facts] = {}
        for offset in range(0, len(ids), CHUNK):
            facts.update((row.id, facts_of(row)) for row in (await session.execute(
                select(*FACTS).where(Customer.id.in_(ids[offset:offset + CHUNK])))).all())
        for segment in segments:
            counts: dict[str, int] = defaultdict(int)
            for customer_id, sessions in visits.items():
                if customer_id in facts and segment.contains(facts[customer_id], now):
                    for _, reached in sessions:
                        for stage in reached:
                            counts[stage] += 1
            by_segment.append({"segment": segment.name, **_row(counts)})
    total: dict[str, int] = defaultdict(int)
    for counts in per_day.values():
        for stage, n in counts.items():
            total[stage] += n
    return {"since": since.isoformat(), "until": until.isoformat(), "benchmark": BENCHMARK,
            "total": _row(total), "days": [{"day": day, **_row(per_day[day])} for day in sorted(per_day)],
            "segments": by_segment}
