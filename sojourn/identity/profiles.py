"""Her profile as a journey sees it (time zone, traits without her contact data, the
visitor id experiments assign by): read by the `load_profile` activity, and by the
router for the runs it starts, which get it in their start input."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.addresses import without_personal
from sojourn.ground.contracts import Profile
from sojourn.ground.models import Customer
from sojourn.identity.linking import canonical


async def load_customer(session: AsyncSession, customer_id: str) -> Customer | None:
    """Her row; for an anonymous id linked since, the customer she turned out to be."""
    return await session.get(Customer, customer_id) or await session.get(Customer, await canonical(session, customer_id))


def profile_of(customer: Customer | None, customer_id: str) -> Profile:
    """Her address and name stay out of the history: the sends read them from the
    database (`email` and `first_name` stay in Profile, empty, for old histories)."""
    if customer is None:
        return Profile(customer_id=customer_id)
    return Profile(customer_id=customer.id, timezone=customer.timezone, traits=without_personal(customer.traits),
                   known=True, visitor_id=customer.anonymous_id or customer.id)
