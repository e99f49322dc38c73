"""Consent and suppression, shared by the send activities and the unsubscribe pages.

Marketing is opt-out: a customer is subscribed to a channel's marketing topic until
she unsubscribes. Transactional messages ignore consent. Suppressed addresses (hard
bounces, complaints) get nothing at all.

Ad platforms are told what she chose about ads, the two signals Google's consent mode
names (`ad_user_data`, `ad_personalization`), recorded from the choices Segment's
Consent Management puts on a call: `context.consent.categoryPreferences`, where an
`Advertising` (or `ads`) category stands for both and `ad_user_data` /
`ad_personalization` for one each. Only a proven caller's choices are recorded (the
shop's backend, or her own browser with her token: api/proof.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.calls import Call
from sojourn.ground.db import upsert
from sojourn.ground.models import AD_TOPICS, Consent, Suppression, utcnow
from sojourn.ground.signing import Signer

TOPICS = ("marketing", "transactional")
ADVERTISING = ("advertising", "ads")  # a CMP category that stands for both


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


def ad_choices(context: dict[str, Any]) -> dict[str, bool]:
    """What a call's `context.consent.categoryPreferences` says about ads, by topic;
    a topic named on its own wins over the category that stands for both."""
    consent = context.get("consent")
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if not isinstance(preferences, dict):
        return {}
    named = {str(k).strip().lower(): v for k, v in preferences.items() if isinstance(v, bool)}
    choices: dict[str, bool] = {}
    for category in ADVERTISING:
        if category in named:
            choices = dict.fromkeys(AD_TOPICS, named[category])
    choices.update({topic: named[topic] for topic in AD_TOPICS if topic in named})
    return choices


async def record_ad_choices(session: AsyncSession, messages: Sequence[Call]) -> None:
    """Her latest choices about ads, from the proven messages that carry any."""
    latest: dict[tuple[str, str], bool] = {}
    for m in messages:
        if m.consent_proven:
            for topic, granted in ad_choices(m.context).items():
                latest[(m.customer_id, topic)] = granted
    for (customer_id, topic), granted in sorted(latest.items()):
        await set_consent(session, ConsentRef(customer_id, "ads", topic), granted, "segment consent")
