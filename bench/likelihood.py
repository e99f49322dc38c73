"""How well the likelihood model predicts, on a generated shop with planted behaviour
(sojourn/devtools/planted_shop.py: her cart predicts her order; recency fools you):
the model's ROC AUC and Brier score on the time-based hold-out, beside recency alone
and the shop's base rate, in the same run.

    .venv/bin/python -m bench.likelihood      (BENCH_CUSTOMERS=3000 BENCH_DAYS=120)
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

from sojourn.devtools import planted_shop
from sojourn.intelligence import likelihood


def main() -> None:
    customers, days = int(os.environ.get("BENCH_CUSTOMERS", "3000")), int(os.environ.get("BENCH_DAYS", "120"))
    now, horizon = datetime(2026, 12, 1, tzinfo=UTC), timedelta(days=14)
    events = planted_shop.events(customers, days, now)
    orders = sum(1 for e in events if e[1] == likelihood.ORDER and e[3] >= now - likelihood.HISTORY)
    started = time.perf_counter()
    train = likelihood.sample(events, now - 2 * horizon, horizon)
    test = likelihood.sample(events, now - horizon, horizon)
    report = likelihood.learn(train, test, test, likelihood.sample(events, now, horizon), orders)
    seconds = time.perf_counter() - started
    m = report.metrics
    print(f"{customers} customers, {days} days, {len(events)} events, {orders} orders; {report.status}: "
          f"{report.reason} ({seconds:.1f} s to sample, evaluate, train and score)")
    if m:
        print(f"hold-out ROC AUC: model {m['auc']:.3f}, recency alone {m['baselines']['recency_auc']:.3f}, "
              f"base rate 0.500")
        print(f"hold-out Brier:   model {m['brier']:.4f}, base rate ({m['baselines']['base_rate']:.1%}) "
              f"{m['baselines']['base_rate_brier']:.4f}")
    print(json.dumps({"customers": customers, "events": len(events), "orders": orders, "status": report.status,
                      "seconds": round(seconds, 1), **({"auc": m["auc"], "brier": m["brier"],
                                                        **m["baselines"]} if m else {})}, indent=2))


if __name__ == "__main__":
    main()
