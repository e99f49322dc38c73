"""Issuing a coupon code to a journey run's slot (sojourn/coupons/pools.py does the work)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from sojourn.coupons import pools
from sojourn.ground.contracts import ISSUE_COUPON, CouponIssued, CouponRequest
from sojourn.ground.db import write_lock
from sojourn.identity.linking import canonical


class CouponActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @activity.defn(name=ISSUE_COUPON)
    async def issue_coupon(self, request: CouponRequest) -> CouponIssued:
        """At most one code per run and slot: a retry after a crash (even one between the
        commit and the answer) finds the code the slot got and hands it back."""
        async with write_lock(self.sessions), self.sessions() as session:
            customer_id = await canonical(session, request.customer_id)
            issued = await pools.issue(
                session, request.offer, request.key, customer_id, request.workflow_id,
                None if request.expires_in_seconds is None else timedelta(seconds=request.expires_in_seconds),
            )
        return CouponIssued(
            offer=request.offer, code=issued.code,
            expires_at=issued.expires_at.isoformat() if issued.expires_at else None,
            reason=issued.reason, remaining=issued.remaining,
        )
