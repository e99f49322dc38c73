"""Her likelihood to buy: the chance she orders within the next N days (default 14),
learned from the shop's own events with scikit-learn, and honest about when it can't be.

- **Features**, each as of a cut time, from her events before it: days since her last
  event and last order; her orders and revenue ever; her events, product views, adds to
  cart, cart views and checkouts started over the last 7 and 30 days; her clicks and
  (a person's) opens per channel over the last 90 days; days since her first event.
- **The model**: gradient-boosted trees (HistGradientBoostingClassifier), calibrated
  (isotonic, 3-fold), so that 0.3 means about 3 in 10 such customers order.
- **Evaluated on a time-based hold-out**: trained on features at T - 2N with orders in
  the N days after, tested on features at T - N with orders in the N days up to T.
  ROC AUC, the Brier score and a reliability table, beside the trivial baselines:
  recency alone (the fewer days since her last event, the likelier), and the shop's
  base rate (everyone gets the training share of buyers).
- **Then** trained again on the most recent window (features at T - N, orders up to T)
  and every customer active in the last 180 days is scored at T.
- **Honesty**: fewer than `MIN_ORDERS` orders in the window, or a hold-out or training
  set without both buyers and non-buyers, and there is no model: the reason is kept and
  shown, and nobody gets a score. It never guesses.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.models import Customer, Event, LikelihoodModel, LikelihoodScore, aware, table

MIN_ORDERS = 200
HISTORY = timedelta(days=180)
FEATURES = (
    "days_since_last_event", "days_since_last_order", "days_since_first_event", "orders", "revenue",
    "events_7d", "events_30d", "views_7d", "views_30d", "adds_7d", "adds_30d", "cart_views_30d", "checkouts_30d",
    "email_clicks_90d", "push_clicks_90d", "onsite_clicks_90d", "email_opens_90d",
)
NEVER = 10_000.0  # days since something that never happened
ORDER = "Order Completed"


@dataclass
class Sample:
    """Each customer's features as of `cut`, and whether she ordered in the horizon after."""

    cut: datetime
    ids: list[str] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


@dataclass
class _Her:
    first: datetime | None = None
    last: datetime | None = None
    last_order: datetime | None = None
    orders: int = 0
    revenue: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _count_key(name: str | None, kind: str, props: dict[str, Any], age: timedelta) -> list[str]:
    keys = []
    for days in (7, 30, 90):
        if age > timedelta(days=days):
            continue
        keys.append(f"events_{days}d")
        if name == "Product Viewed" or (kind == "page" and props.get("product_id")):
            keys.append(f"views_{days}d")
        elif name == "Product Added":
            keys.append(f"adds_{days}d")
        elif name == "Cart Viewed":
            keys.append(f"cart_views_{days}d")
        elif name == "Checkout Started":
            keys.append(f"checkouts_{days}d")
        elif name in ("Message Clicked", "Onsite Message Clicked"):
            channel = "onsite" if name.startswith("Onsite") else str(props.get("channel") or "")
            if channel in ("email", "push", "onsite"):
                keys.append(f"{channel}_clicks_{days}d")
        elif name == "Email Opened" and props.get("machine") is False:
            keys.append(f"email_opens_{days}d")
    return keys


def _days(a: datetime, b: datetime | None) -> float:
    return NEVER if b is None else max(0.0, (a - b).total_seconds() / 86400)


async def _events(session: AsyncSession, since: datetime, until: datetime) -> list[tuple[str, str | None, str,
                                                                                          datetime, Any]]:
    rows = await session.execute(select(Event.customer_id, Event.name, Event.type, Event.timestamp, Event.properties)
                                 .where(Event.timestamp >= since, Event.timestamp < until,
                                        Event.type.in_(("track", "page", "screen"))))
    return [(c, n, t, aware(ts), p) for c, n, t, ts, p in rows]


def sample(events: list[tuple[str, str | None, str, datetime, Any]], cut: datetime, horizon: timedelta) -> Sample:
    """Features as of `cut` (events before it, within HISTORY) and labels (an order in
    [cut, cut + horizon)), for every customer with an event in the history."""
    hers: dict[str, _Her] = defaultdict(_Her)
    ordered: set[str] = set()
    for customer, name, kind, at, props in events:
        props = props if isinstance(props, dict) else {}
        if cut <= at < cut + horizon:
            if name == ORDER:
                ordered.add(customer)
            continue
        if not (cut - HISTORY <= at < cut):
            continue
        her = hers[customer]
        her.first = at if her.first is None else min(her.first, at)
        her.last = at if her.last is None else max(her.last, at)
        if name == ORDER:
            her.orders += 1
            her.last_order = at if her.last_order is None else max(her.last_order, at)
            value = props.get("revenue", props.get("total"))
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                her.revenue += float(value)
        for key in _count_key(name, kind, props, cut - at):
            her.counts[key] += 1
    found = Sample(cut)
    for customer in sorted(hers):
        her = hers[customer]
        values = {"days_since_last_event": _days(cut, her.last), "days_since_last_order": _days(cut, her.last_order),
                  "days_since_first_event": _days(cut, her.first), "orders": float(her.orders),
                  "revenue": her.revenue, **{k: float(v) for k, v in her.counts.items()}}
        found.ids.append(customer)
        found.rows.append([values.get(name, 0.0) for name in FEATURES])
        found.labels.append(1 if customer in ordered else 0)
    return found


@dataclass
class Report:
    status: str  # trained | no model
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    scored: Sample | None = None


def _model() -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    return CalibratedClassifierCV(HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, random_state=0),
                                  method="isotonic", cv=3)


def _enough(name: str, labels: list[int]) -> str | None:
    buyers = sum(labels)
    if buyers < 3 or buyers > len(labels) - 3:
        return f"the {name} has {buyers} buyers among {len(labels)} customers: it needs both, a few of each"
    return None


def learn(train: Sample, test: Sample, latest: Sample, now_sample: Sample, orders: int) -> Report:
    """Evaluate on the hold-out, then train on the latest window and score `now_sample`.
    CPU-bound: run it in a thread."""
    if orders < MIN_ORDERS:
        return Report("no model", f"only {orders} orders in the last {HISTORY.days} days; a model needs "
                                  f"{MIN_ORDERS}, so nobody gets a likelihood")
    for name, part in (("training window", train), ("hold-out", test)):
        short = _enough(name, part.labels)
        if short:
            return Report("no model", short + "; nobody gets a likelihood")
    import numpy as np
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss, roc_auc_score

    model = _model().fit(np.array(train.rows), np.array(train.labels))
    predicted = model.predict_proba(np.array(test.rows))[:, 1]
    truth = np.array(test.labels)
    recency = -np.array([row[FEATURES.index("days_since_last_event")] for row in test.rows])
    base = sum(train.labels) / len(train.labels)
    observed, mean_predicted = calibration_curve(truth, predicted, n_bins=10, strategy="quantile")
    bins = np.quantile(predicted, np.linspace(0, 1, 11))
    counts = np.histogram(predicted, bins=np.unique(bins))[0] if len(np.unique(bins)) > 1 else [len(predicted)]
    metrics = {
        "horizon_days": None,  # filled by the caller
        "train": {"cut": train.cut.isoformat(), "customers": len(train.labels), "buyers": sum(train.labels)},
        "holdout": {"cut": test.cut.isoformat(), "customers": len(test.labels), "buyers": sum(test.labels)},
        "auc": float(roc_auc_score(truth, predicted)),
        "brier": float(brier_score_loss(truth, predicted)),
        "baselines": {"recency_auc": float(roc_auc_score(truth, recency)),
                      "base_rate": base, "base_rate_brier": float(brier_score_loss(truth, np.full(len(truth), base)))},
        "reliability": [{"predicted": float(p), "observed": float(o)}
                        for p, o in zip(mean_predicted, observed, strict=True)],
        "bins": [int(c) for c in counts],
    }
    short = _enough("latest window", latest.labels)
    if short:
        return Report("no model", short + "; nobody gets a likelihood", metrics)
    final = _model().fit(np.array(latest.rows), np.array(latest.labels))
    scores = final.predict_proba(np.array(now_sample.rows))[:, 1] if now_sample.rows else []
    now_sample.labels = []
    scored = Sample(now_sample.cut, now_sample.ids, [[float(s)] for s in scores])
    return Report("trained", f"trained on {len(latest.labels)} customers, {sum(latest.labels)} of them buyers", metrics,
                  final, scored)


async def gather(session: AsyncSession, now: datetime, horizon: timedelta) -> tuple[Sample, Sample, Sample, Sample,
                                                                                        int]:
    """The samples `learn` needs, from one read of the events."""
    events = await _events(session, now - 2 * horizon - HISTORY, now)
    orders = sum(1 for _, name, _, at, _ in events if name == ORDER and at >= now - HISTORY)
    train = sample(events, now - 2 * horizon, horizon)
    test = sample(events, now - horizon, horizon)
    current = sample(events, now, horizon)
    return train, test, test, current, orders


async def store(session: AsyncSession, report: Report, now: datetime,
                horizon: timedelta) -> tuple[LikelihoodModel, dict[str, float]]:
    """The run's report, and the scores: replaced whole (none when there is no model),
    on the scores table and on each customer's `purchase_likelihood` fact. Returns the
    facts as they were, for who crossed a segment's line."""
    metrics = {**report.metrics, "horizon_days": horizon.days} if report.metrics else {}
    row = LikelihoodModel(trained_at=now, horizon_days=horizon.days, status=report.status, reason=report.reason,
                          metrics=metrics)
    session.add(row)
    await session.flush()
    await session.execute(delete(LikelihoodScore))
    before = {c: float(p) for c, p in await session.execute(
        select(Customer.id, Customer.purchase_likelihood).where(Customer.purchase_likelihood.is_not(None)))
        if p is not None}
    await session.execute(update(Customer).where(Customer.purchase_likelihood.is_not(None))
                          .values(purchase_likelihood=None))
    if report.scored is not None and report.scored.ids:
        session.add_all([LikelihoodScore(customer_id=c, score=row_[0], model_id=row.id, scored_at=now)
                         for c, row_ in zip(report.scored.ids, report.scored.rows, strict=True)])
        await session.execute(
            update(table(Customer)).where(table(Customer).c.id == bindparam("cid"))
            .values(purchase_likelihood=bindparam("p")),
            [{"cid": c, "p": row_[0]} for c, row_ in zip(report.scored.ids, report.scored.rows, strict=True)])
    return row, before


async def latest(session: AsyncSession) -> LikelihoodModel | None:
    return await session.scalar(select(LikelihoodModel).order_by(LikelihoodModel.id.desc()).limit(1))


def describe(row: LikelihoodModel | None) -> dict[str, Any]:
    if row is None:
        return {"status": "no model", "reason": "not trained yet: the likelihood schedule has not run"}
    return {"status": row.status, "reason": row.reason, "trained_at": aware(row.trained_at).isoformat(),
            "horizon_days": row.horizon_days, "metrics": row.metrics or {}}


async def hers(session: AsyncSession, customer_id: str) -> dict[str, Any]:
    """Her likelihood, or why there is none."""
    model = await latest(session)
    found = describe(model)
    if model is None or model.status != "trained":
        return {"likelihood": None, "status": found["status"], "reason": found["reason"]}
    score = await session.get(LikelihoodScore, customer_id)
    if score is None:
        return {"likelihood": None, "status": "not scored",
                "reason": "no activity in the last 180 days when the model last ran", "trained_at": found["trained_at"]}
    return {"likelihood": round(score.score, 4), "status": "trained", "horizon_days": model.horizon_days,
            "reason": f"her chance of an order within {model.horizon_days} days", "trained_at": found["trained_at"]}
