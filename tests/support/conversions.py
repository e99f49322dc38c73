"""Her conversions as a journey's stats count them: measured from the events
(sojourn/analytics/kpis.py), since runs no longer record their own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.analytics import kpis
from sojourn.ground.spec import JourneySpec


async def conversions(session: AsyncSession, spec: JourneySpec, customer_id: str) -> int:
    """Her entries (those not ended early) that reached the journey's goal."""
    assert spec.goal is not None, f"{spec.name} has no goal"
    measured = await kpis.measure(session, spec)
    hers = [e.id for e in measured.entries if e.customer_id == customer_id]
    return sum(1 for i in measured.base(spec.goal, hers) if i in measured.outcomes[spec.goal.kpi])
