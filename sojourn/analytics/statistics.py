"""The statistics, from scipy and statsmodels (none written by hand):

- a rate's 95% interval: Wilson's (statsmodels `proportion_confint(method="wilson")`);
- a variant against the reference (control, else the first variant): the two-proportion
  z-test (statsmodels `proportions_ztest`), two-sided;
- the Bayesian probability that each variant is the best: Beta(1 + conversions,
  1 + misses) posteriors, P(best) = ∫ pdf_i(x) Π_j≠i cdf_j(x) dx (scipy's Beta and quad);
- a holdout's lift: treated rate minus control rate, with Newcombe's 95% interval
  (statsmodels `confint_proportions_2indep(method="newcomb")`);
- too small to say anything: fewer than MIN_ENTRIES entries, or fewer than
  MIN_CONVERSIONS conversions or misses, in any group compared (the normal
  approximation's rule of thumb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import integrate
from scipy.stats import beta
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, proportions_ztest

MIN_ENTRIES = 30
MIN_CONVERSIONS = 5
ALPHA = 0.05


def wilson(conversions: int, entries: int) -> tuple[float, float] | None:
    if entries <= 0:
        return None
    low, high = proportion_confint(conversions, entries, alpha=ALPHA, method="wilson")
    return float(low), float(high)


def two_proportion_p(c1: int, n1: int, c2: int, n2: int) -> float | None:
    """Two-sided p-value that the two rates differ; None when it can't be computed
    (an empty group, or both rates 0 or both 1)."""
    if n1 <= 0 or n2 <= 0 or (c1 + c2) in (0, n1 + n2):
        return None
    _, p = proportions_ztest([c1, c2], [n1, n2], alternative="two-sided")
    return float(p) if math.isfinite(p) else None


def probability_best(groups: list[tuple[int, int]]) -> list[float]:
    """For each (conversions, entries), the posterior probability its rate is the highest."""
    if not groups:
        return []
    posteriors = [beta(1 + c, 1 + max(n - c, 0)) for c, n in groups]
    found = []
    for i, mine in enumerate(posteriors):
        others = [p for j, p in enumerate(posteriors) if j != i]

        def density(x: float, mine=mine, others=others) -> float:  # noqa: ANN001
            value = mine.pdf(x)
            for other in others:
                value *= other.cdf(x)
            return value

        area, _ = integrate.quad(density, 0.0, 1.0, limit=200, points=[float(mine.mean())])
        found.append(float(area))
    total = sum(found)
    return [p / total for p in found] if total > 0 else [1 / len(groups)] * len(groups)


@dataclass
class Lift:
    difference: float
    interval: tuple[float, float]


def lift(treated: tuple[int, int], control: tuple[int, int]) -> Lift | None:
    """The treated group's rate minus the control's, with its 95% interval."""
    (ct, nt), (cc, nc) = treated, control
    if nt <= 0 or nc <= 0:
        return None
    low, high = confint_proportions_2indep(ct, nt, cc, nc, method="newcomb", compare="diff", alpha=ALPHA)
    return Lift(ct / nt - cc / nc, (float(low), float(high)))


def too_small(groups: list[tuple[int, int]]) -> str | None:
    """Why these groups are too small to compare, or None."""
    for conversions, entries in groups:
        if entries < MIN_ENTRIES:
            return f"too small a sample to say anything: a group has {entries} entries (at least {MIN_ENTRIES})"
        if min(conversions, entries - conversions) < MIN_CONVERSIONS:
            return (f"too small a sample to say anything: a group has {conversions} conversions of {entries} "
                    f"(at least {MIN_CONVERSIONS} conversions and {MIN_CONVERSIONS} misses)")
    return None
