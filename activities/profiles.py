"""Reading the customer profile: for journeys (decisions, time zone) and for sends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from sojourn.ground.contracts import LOAD_FACTS, LOAD_PROFILE, FactsRequest, Profile, ProfileRequest, Send
from sojourn.ground.facts import Facts, facts_of
from sojourn.ground.models import Customer
from sojourn.ground.settings import Settings
from sojourn.ground.signing import Signer
from sojourn.identity import profiles
from sojourn.links.referrals import referral_code
from sojourn.links.tracking import TrustedUrl


@dataclass(frozen=True)
class Addressee:
    """What a send needs of her: the four columns its batch reads, not the whole
    profile (a customer row has some thirty, three of them JSON to decode)."""

    id: str
    email: str | None
    first_name: str | None
    traits: dict[str, Any]


async def load_customer(sessions: async_sessionmaker[AsyncSession], customer_id: str) -> Customer | None:
    """Her profile; for an anonymous id linked since, the customer she turned out to be."""
    async with sessions() as session:
        return await profiles.load_customer(session, customer_id)


class ProfileActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @activity.defn(name=LOAD_FACTS)
    async def load_facts(self, request: FactsRequest) -> Facts:
        """Her facts as stored now; none yet for a customer never seen."""
        customer = await load_customer(self.sessions, request.customer_id)
        return facts_of(customer) if customer is not None else Facts()

    @activity.defn(name=LOAD_PROFILE)
    async def load_profile(self, request: ProfileRequest) -> Profile:
        """Her profile now (a run the router started has it from its start input; this
        is for the others, and for `profile(refresh=True)`)."""
        return profiles.profile_of(await load_customer(self.sessions, request.customer_id), request.customer_id)


def template_context(settings: Settings, signer: Signer, customer: Addressee | None, send: Send) -> dict[str, Any]:
    traits = dict(customer.traits) if customer else {}
    store = settings.store_url.rstrip("/")
    code = referral_code(signer, send.customer_id)
    return {
        **send.data,
        "customer": {
            **traits,
            "id": send.customer_id,
            "email": customer.email if customer else None,
            "first_name": (customer.first_name if customer else None) or traits.get("first_name"),
        },
        "store_url": TrustedUrl(store),
        "referral_code": code,
        "referral_url": TrustedUrl(f"{settings.public_url.rstrip('/')}/v1/r/{code}"),
        "journey": send.journey,
        "step": send.step,
    }
