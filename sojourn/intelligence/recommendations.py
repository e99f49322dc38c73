"""Recommendations: what goes with what, from the shop's own orders and views.

Kinds, each a table of the top products per product (refreshed by a Temporal
Schedule, workflows/upkeep/recommendations_refresh.py, and read by the kit, the templates
and the storefront's API):

- `bought_together`: item-to-item co-occurrence in orders ("frequently bought
  together"), scored by Jaccard: orders with both ÷ orders with either. Lift (how much
  more often than chance) is kept beside it; pairs seen in fewer than `MIN_SUPPORT`
  orders are noise and left out.
- `also_viewed`: the same over what each customer viewed (her recently viewed
  products: one basket per customer).
- `popular`: the most ordered products, the fallback when a product has too few
  pairs (a new product, a one-off buy).
- `previously_viewed`: hers, newest first (her facts; nothing to compute).

For a customer, the seeds are her cart, her last order and her recently viewed
products; the scores of each seed's list add up, then come the filters (already
bought, in the cart, excluded by the brand: SOJOURN_RECOMMEND_EXCLUDE) and the
popular fill. The scoring is pure; bench/recommendations.py checks its quality on a
generated shop with planted affinities against popularity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

MIN_SUPPORT = 2  # a pair must co-occur in at least this many baskets
TOP = 20  # kept per product and kind
KINDS = ("bought_together", "also_viewed")


@dataclass(frozen=True)
class Scored:
    product_id: str
    score: float  # Jaccard
    lift: float
    together: int  # baskets with both


def counts(baskets: Iterable[Iterable[str]]) -> tuple[Counter[str], Counter[tuple[str, str]], int]:
    """How many baskets hold each product, and each pair (a < b); and how many baskets."""
    items: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    n = 0
    for basket in baskets:
        distinct = sorted(set(basket))
        if not distinct:
            continue
        n += 1
        items.update(distinct)
        pairs.update(combinations(distinct, 2))
    return items, pairs, n


def related(items: Counter[str], pairs: Counter[tuple[str, str]], n: int, *, min_support: int = MIN_SUPPORT,
            top: int = TOP) -> dict[str, list[Scored]]:
    """For each product, its `top` companions by Jaccard (ties: more baskets together,
    then the id, so the order is stable)."""
    found: dict[str, list[Scored]] = {}
    for (a, b), both in pairs.items():
        if both < min_support:
            continue
        jaccard = both / (items[a] + items[b] - both)
        lift = both * n / (items[a] * items[b])
        found.setdefault(a, []).append(Scored(b, jaccard, lift, both))
        found.setdefault(b, []).append(Scored(a, jaccard, lift, both))
    return {p: sorted(s, key=lambda x: (-x.score, -x.together, x.product_id))[:top] for p, s in found.items()}


def popular(items: Counter[str], top: int = TOP) -> list[str]:
    return [p for p, _ in sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def blend(seeds: Sequence[str], table: dict[str, list[Scored]], fallback: Sequence[str], *,
          exclude: Iterable[str] = (), limit: int = 5) -> list[str]:
    """Her recommendations: each seed's companions, scores added up (a product that goes
    with several of hers ranks higher), then the fallback; never a seed, nor an
    excluded product."""
    out = set(exclude) | set(seeds)
    scores: dict[str, float] = {}
    for seed in seeds:
        for item in table.get(seed, ()):
            if item.product_id not in out:
                scores[item.product_id] = scores.get(item.product_id, 0.0) + item.score
    ranked = [p for p, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]
    for product in fallback:
        if product not in out and product not in scores:
            ranked.append(product)
    return ranked[:max(limit, 0)]
