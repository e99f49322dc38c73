"""Recommendation quality: co-occurrence ("frequently bought together") against
popularity, on a generated shop with planted affinities, as a ratio in the same run.

The shop: 300 products in 50 affinity groups of 6 (a routine: cleanser, toner, serum,
...); product popularity follows Zipf's law. Each of 4,000 orders picks a group
(popular groups more often), takes 2 to 4 of its products, and one time in two adds a
popular product from anywhere (noise). Orders are split 80/20 into train and
held-out. Scored on held-out orders: for each product of an order as the seed, the
other products of that order are the truth; precision@5 = hits in the top 5 ÷ 5.

- `popular`: the 5 most ordered products (minus the seed): the baseline;
- `bought_together (jaccard)`: what Sojourn ships (sojourn/intelligence/recommendations.py);
- `bought_together (lift)`: the same pairs ranked by lift instead, for comparison.

    .venv/bin/python -m bench.recommendations      (BENCH_SEED=7, BENCH_ORDERS=4000)
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

from sojourn.intelligence.recommendations import Scored, blend, counts, popular, related

SEED = int(os.environ.get("BENCH_SEED", "7"))
ORDERS = int(os.environ.get("BENCH_ORDERS", "4000"))
PRODUCTS, GROUP = 300, 6
K = 5


def generate(rng: random.Random) -> list[list[str]]:
    products = [f"p{i:03d}" for i in range(PRODUCTS)]
    rng.shuffle(products)  # groups are not ordered by popularity
    groups = [products[i:i + GROUP] for i in range(0, PRODUCTS, GROUP)]
    zipf = [1 / (rank + 1) for rank in range(PRODUCTS)]
    by_popularity = sorted(products)  # p000 is the most popular product overall
    group_weight = [1 / (rank + 1) ** 0.7 for rank in range(len(groups))]
    orders = []
    for _ in range(ORDERS):
        group = rng.choices(groups, weights=group_weight)[0]
        basket = rng.sample(group, rng.randint(2, 4))
        if rng.random() < 0.5:
            basket.append(rng.choices(by_popularity, weights=zipf)[0])
        orders.append(basket)
    return orders


def precision(held_out: list[list[str]], recommend: Callable[[str], list[str]]) -> tuple[float, float]:
    """Mean precision@5 and hit rate (at least one right) over every seed of every order."""
    total = hits_any = cases = 0.0
    for order in held_out:
        distinct = list(dict.fromkeys(order))
        if len(distinct) < 2:
            continue
        for seed in distinct:
            truth = set(distinct) - {seed}
            hits = len(set(recommend(seed)[:K]) & truth)
            total += hits / K
            hits_any += hits > 0
            cases += 1
    return total / cases, hits_any / cases


def by_lift(table: dict[str, list[Scored]]) -> dict[str, list[Scored]]:
    return {p: sorted(s, key=lambda x: (-x.lift, x.product_id)) for p, s in table.items()}


def main() -> None:
    rng = random.Random(SEED)
    orders = generate(rng)
    rng.shuffle(orders)
    cut = int(len(orders) * 0.8)
    train, held_out = orders[:cut], orders[cut:]
    items, pairs, n = counts(train)
    table = related(items, pairs, n)
    fallback = popular(items)
    lifted = by_lift(table)
    results = {
        "popular": precision(held_out, lambda seed: [p for p in fallback if p != seed]),
        "bought_together (jaccard)": precision(held_out, lambda seed: blend([seed], table, fallback, limit=K)),
        "bought_together (lift)": precision(held_out, lambda seed: blend([seed], lifted, fallback, limit=K)),
    }
    base = results["popular"][0]
    print(f"{len(train)} train orders, {len(held_out)} held out; {PRODUCTS} products in groups of {GROUP}; seed {SEED}")
    print(f"{'ranking':28} {'precision@5':>12} {'hit rate@5':>11} {'vs popular':>11}")
    for name, (p_at_k, hit) in results.items():
        print(f"{name:28} {p_at_k:12.3f} {hit:11.3f} {p_at_k / base:10.1f}x")
    assert results["bought_together (jaccard)"][0] > base, "co-occurrence must beat popularity"


if __name__ == "__main__":
    main()
