"""The kit's ad audiences: a journey puts her in a retargeting audience and takes her
out; whatever she is still in when her run ends (she ordered, converted, or the
journey is over) she leaves then. A scheduled sync tells the ad platforms
(workflows/upkeep/audience_sync.py, sojourn/audiences/members.py)."""

from __future__ import annotations

from temporalio import workflow

from workflows.kit.base import Kit
from workflows.kit.options import RECORD_TIMEOUT, SEND_RETRY

with workflow.unsafe.imports_passed_through():
    from sojourn.ground.contracts import CHANGE_AUDIENCE, AudienceChange


class Audiences(Kit):
    """Mixed into Journey: uses its input, state and timeline."""

    async def add_to_audience(self, audience: str) -> None:
        """She joins the audience (e.g. "cart_abandoners") until she is removed or her run ends."""
        if audience in self.s.audiences:
            return
        await self._audience(audience, True, f"{self.spec.name}: joined")
        self.s.audiences.append(audience)

    async def remove_from_audience(self, audience: str) -> None:
        if audience not in self.s.audiences:
            return
        await self._audience(audience, False, f"{self.spec.name}: removed")
        self.s.audiences.remove(audience)

    async def _leave_audiences(self, why: str) -> None:
        for audience in list(self.s.audiences):
            await self._audience(audience, False, f"{self.spec.name}: {why}")
            self.s.audiences.remove(audience)

    async def _audience(self, audience: str, member: bool, reason: str) -> None:
        await workflow.execute_activity(
            CHANGE_AUDIENCE, AudienceChange(audience=audience, customer_id=self.start.customer_id, member=member,
                                            reason=reason),
            start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY,
            summary=f"{'join' if member else 'leave'} audience {audience}",
        )
        self._note(f"audience {audience}: {'joined' if member else 'left'}" + ("" if member else f" ({reason})"))
