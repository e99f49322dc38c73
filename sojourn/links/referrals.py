"""Referral codes: signed, so a code in a link can't be forged for someone else."""

from __future__ import annotations

from sojourn.ground.signing import Signer

PREFIX = "ref:"
# Events only Sojourn records (api/routes/referrals.py, the referral welcome journey):
# a browser sending one could credit itself a referral and its coupon.
RECORDED_BY_SOJOURN = frozenset({"Referral Visited", "Referral Link Opened", "Referral Converted"})


def referral_code(signer: Signer, customer_id: str) -> str:
    return signer.sign(PREFIX + customer_id)


def read_referral_code(signer: Signer, code: str) -> str | None:
    """The referrer's customer id, or None for a tampered or malformed code."""
    value = signer.verify(code)
    if value is None or not value.startswith(PREFIX) or len(value) == len(PREFIX):
        return None
    return value[len(PREFIX):]
