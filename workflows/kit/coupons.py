"""The kit's coupons: a unique code from an offer's pool, at most one per run and slot.

    coupon = await self.issue_coupon("first_order", expires_in=timedelta(days=14), to_reach="email")
    await self.send_email("coupon_email", template="first_order_coupon", coupon=coupon)

The code is journaled, so a replay or the run after continue-as-new has the same one
without asking again; the activity is keyed by the run and the slot, so a retry after a
crash gets the same code back (sojourn/coupons/pools.py). An empty pool gives a coupon with no
code and the reason; a send given such a coupon is skipped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.kit.base import Kit
from workflows.kit.options import RECORD_TIMEOUT, SEND_RETRY, on_demo_clock

with workflow.unsafe.imports_passed_through():
    from sojourn.ground.contracts import ISSUE_COUPON, CouponIssued, CouponRequest


@dataclass
class Coupon:
    offer: str
    code: str | None
    expires_at: str | None = None  # ISO-8601
    reason: str = ""  # why there is no code

    def __bool__(self) -> bool:
        return self.code is not None

    def for_template(self) -> dict[str, Any]:
        """What templates see as `coupon`: `coupon.code`, `coupon.expires_at`."""
        return {"offer": self.offer, "code": self.code, "expires_at": self.expires_at}


class Coupons(Kit):
    """Mixed into Journey: uses its input (`self.start`), state and journal."""

    async def issue_coupon(self, offer: str, *, expires_in: timedelta | None = None,
                           slot: str | None = None, to_reach: str | None = None,
                           fallback: str | None = None) -> Coupon:
        """A code from the offer's pool for this run (one per `slot`, the offer by default),
        valid for `expires_in` on the journey's clock. With `to_reach` ("email", "push",
        "onsite"), only if a send on that channel can reach her: a code for nobody is
        never taken. With `fallback` ("email"), when `to_reach` can't reach her, a code
        if the fallback can (slot `<slot>.<fallback>`), for a send_on(..., fallback=...)."""
        slot = slot or offer
        coupon = await self._issue(offer, expires_in, slot, to_reach)
        if not coupon and fallback and fallback != to_reach:
            coupon = await self._issue(offer, expires_in, f"{slot}.{fallback}", fallback)
        return coupon

    async def _issue(self, offer: str, expires_in: timedelta | None, slot: str, to_reach: str | None) -> Coupon:
        key = f"coupon:{slot}"
        journaled = self.s.journal.get(key)
        if journaled is None:
            info = workflow.info()
            issued = await workflow.execute_activity(
                ISSUE_COUPON,
                CouponRequest(
                    offer=offer, key=f"{info.workflow_id}/{info.first_execution_run_id}/{slot}",
                    customer_id=self.start.customer_id, workflow_id=info.workflow_id,
                    expires_in_seconds=self.scaled(expires_in).total_seconds() if expires_in else None,
                    to_reach=to_reach,
                ),
                result_type=CouponIssued, start_to_close_timeout=RECORD_TIMEOUT,
                retry_policy=on_demo_clock(SEND_RETRY, self.start.time_scale), summary=f"coupon {offer}",
            )
            journaled = self.s.journal[key] = Coupon(offer, issued.code, issued.expires_at, issued.reason)
            self._note(f"coupon {offer}: " + ("issued" if issued.code else f"none ({issued.reason})"))
        return journaled if isinstance(journaled, Coupon) else Coupon(**journaled)
