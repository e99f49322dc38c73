"""Issuing a coupon code to a journey run's slot (sojourn/coupons/pools.py does the work)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from sojourn.coupons import pools
from sojourn.ground.contracts import ISSUE_COUPON, CouponIssued, CouponRequest
from sojourn.ground.db import write_lock
from sojourn.ground.models import Customer, PushSubscription
from sojourn.identity.consent import ConsentRef, is_subscribed, suppression
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
            unreachable = await self._unreachable(session, customer_id, request.to_reach)
            if unreachable and await pools.issued_for(session, request.key) is None:
                # Nobody to send it to: a code taken now would be a code for nobody (a
                # batch of fake views would empty the pool).
                return CouponIssued(offer=request.offer, code=None, reason=unreachable)
            issued = await pools.issue(
                session, request.offer, request.key, customer_id, request.workflow_id,
                None if request.expires_in_seconds is None else timedelta(seconds=request.expires_in_seconds),
            )
        return CouponIssued(
            offer=request.offer, code=issued.code,
            expires_at=issued.expires_at.isoformat() if issued.expires_at else None,
            reason=issued.reason, remaining=issued.remaining,
        )

    @staticmethod
    async def _unreachable(session: AsyncSession, customer_id: str, channel: str | None) -> str:
        """Why a send on `channel` can't reach her ("" if it can, or no channel is named)."""
        if channel is None or channel == "onsite":
            return ""  # the storefront shows it on her next visit
        if channel == "push":
            browsers = await session.scalar(select(func.count()).select_from(PushSubscription).where(
                PushSubscription.customer_id == customer_id))
            return "" if browsers else "no browser to push to: no code taken"
        email = await session.scalar(select(Customer.email).where(Customer.id == customer_id))
        if not email:
            return "no email address to reach her: no code taken"
        if await suppression(session, "email", email) is not None:
            return "her address is suppressed: no code taken"
        if not await is_subscribed(session, ConsentRef(customer_id, "email", "marketing")):
            return "she unsubscribed from marketing email: no code taken"
        return ""
