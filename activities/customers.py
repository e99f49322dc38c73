"""Reading the customer profile for a send."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.contracts import Send
from sojourn.models import Customer
from sojourn.settings import Settings


async def load_customer(sessions: async_sessionmaker[AsyncSession], customer_id: str) -> Customer | None:
    async with sessions() as session:
        return await session.get(Customer, customer_id)


def template_context(settings: Settings, customer: Customer | None, send: Send) -> dict[str, Any]:
    traits = dict(customer.traits) if customer else {}
    return {
        **send.data,
        "customer": {
            **traits,
            "id": send.customer_id,
            "email": customer.email if customer else None,
            "first_name": (customer.first_name if customer else None) or traits.get("first_name"),
        },
        "store_url": settings.store_url.rstrip("/"),
        "journey": send.journey,
        "step": send.step,
    }
