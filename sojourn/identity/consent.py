"""Consent and suppression, shared by the send activities and the unsubscribe pages.

Marketing is opt-out: a customer is subscribed to a channel's marketing topic until
she unsubscribes. Consent a browser gives for an email address (the wheel's box) is
pending until she confirms it through a signed link (double opt-in, on by default):
`ask_to_confirm`, then api/routes/confirm.py. Transactional messages ignore consent. Suppressed addresses (hard
bounces, complaints) get nothing at all.

Ad platforms are told what she chose about ads, the two signals Google's consent mode
names (`ad_user_data`, `ad_personalization`), recorded from the choices Segment's
Consent Management puts on a call: `context.consent.categoryPreferences`, where an
`Advertising` (or `ads`) category stands for both and `ad_user_data` /
`ad_personalization` for one each. Only a proven caller's choices are recorded (the
shop's backend, or her own browser with her token: api/proof.py).
"""

from __future__ import annotations

import hashlib
import hmac
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


PENDING = "pending:"  # a consent's source while she has not confirmed it (double opt-in)


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation link confirms: her consent, for the address it was sent to."""

    ref: ConsentRef
    address_digest: str
    expires: int  # unix seconds

    def for_address(self, address: str | None) -> bool:
        return address is not None and hmac.compare_digest(self.address_digest, address_digest(address))


def address_digest(address: str) -> str:
    """The address, not in the link: a link confirms only the address it was sent to,
    not one she (or anyone) set on the profile since."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:24]


def confirmation_token(signer: Signer, ref: ConsentRef, address: str, expires: int) -> str:
    return signer.sign("\x1f".join(("confirm", ref.customer_id, ref.channel, ref.topic, address_digest(address),
                                    str(expires))))


def read_confirmation_token(signer: Signer, token: str) -> Confirmation | None:
    value = signer.verify(token)
    parts = value.split("\x1f") if value is not None else []
    if len(parts) != 6 or parts[0] != "confirm" or not parts[5].isdigit():
        return None
    return Confirmation(ConsentRef(parts[1], parts[2], parts[3]), parts[4], int(parts[5]))


async def subscribed_already(session: AsyncSession, ref: ConsentRef, *, on_her_profile: bool) -> bool:
    """By her choice, or, for the address on her profile, by the opt-out default."""
    current = await session.scalar(select(Consent.subscribed).where(
        Consent.customer_id == ref.customer_id, Consent.channel == ref.channel, Consent.topic == ref.topic))
    return current is True or (current is None and on_her_profile)


async def ask_to_confirm(session: AsyncSession, ref: ConsentRef, source: str, *, on_her_profile: bool) -> bool:
    """Consent given from a browser for an address (double opt-in): recorded as pending,
    so nothing marketing goes to it, until she confirms. False when she is subscribed
    already: nothing to confirm, and nothing taken away."""
    if await subscribed_already(session, ref, on_her_profile=on_her_profile):
        return False
    await set_consent(session, ref, False, f"{PENDING}{source}")
    return True


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
