"""Consent and suppression, shared by the send activities and the unsubscribe pages.

Marketing is opt-out: a customer is subscribed to a channel's marketing topic until
she unsubscribes. Transactional messages ignore consent. Suppressed addresses (hard
bounces, complaints) get nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.db import upsert
from sojourn.ground.models import Consent, Suppression, utcnow
from sojourn.ground.signing import Signer

TOPICS = ("marketing", "transactional")


@dataclass(frozen=True)
class ConsentRef:
    customer_id: str
    channel: str
    topic: str


def unsubscribe_token(signer: Signer, ref: ConsentRef) -> str:
    return signer.sign(f"unsub\x1f{ref.customer_id}\x1f{ref.channel}\x1f{ref.topic}")


def read_unsubscribe_token(signer: Signer, token: str) -> ConsentRef | None:
    value = signer.verify(token)
    if value is None:
        return None
    parts = value.split("\x1f")
    if len(parts) != 4 or parts[0] != "unsub":
        return None
    return ConsentRef(customer_id=parts[1], channel=parts[2], topic=parts[3])


async def set_consent(session: AsyncSession, ref: ConsentRef, subscribed: bool, source: str) -> None:
    stmt = upsert(session, Consent).values(
        customer_id=ref.customer_id, channel=ref.channel, topic=ref.topic,
        subscribed=subscribed, source=source, updated_at=utcnow(),
    )
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["customer_id", "channel", "topic"],
        set_={"subscribed": stmt.excluded.subscribed, "source": stmt.excluded.source,
              "updated_at": stmt.excluded.updated_at},
    ))


async def is_subscribed(session: AsyncSession, ref: ConsentRef) -> bool:
    if ref.topic == "transactional":
        return True
    choice = await session.scalar(select(Consent.subscribed).where(
        Consent.customer_id == ref.customer_id, Consent.channel == ref.channel, Consent.topic == ref.topic))
    return choice is not False


async def suppression(session: AsyncSession, channel: str, address: str) -> Suppression | None:
    return await session.get(Suppression, (channel, address.lower()))


async def suppress(session: AsyncSession, channel: str, address: str, reason: str, detail: str) -> None:
    await session.execute(
        upsert(session, Suppression)
        .values(channel=channel, address=address.lower(), reason=reason, detail=detail[:2000], created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["channel", "address"])
    )
