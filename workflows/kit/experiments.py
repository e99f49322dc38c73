"""A/B assignment: deterministic per customer and experiment, with a holdout."""

from __future__ import annotations

import hashlib

CONTROL = "control"


def bucket(customer_id: str, experiment: str) -> float:
    """A stable number in [0, 1) for this customer in this experiment."""
    digest = hashlib.sha256(f"{experiment}\x00{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(customer_id: str, experiment: str, weights: dict[str, float], holdout: float = 0.0) -> str:
    """`holdout` of customers get CONTROL; the rest split by `weights`."""
    if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError("weights must be non-negative and not all zero")
    if not 0 <= holdout < 1:
        raise ValueError("holdout must be in [0, 1)")
    u = bucket(customer_id, experiment)
    if u < holdout:
        return CONTROL
    u = (u - holdout) / (1 - holdout)
    total = sum(weights.values())
    edge = 0.0
    for variant, weight in weights.items():
        edge += weight / total
        if u < edge:
            return variant
    return list(weights)[-1]
