"""Ad audiences: who a journey put in a retargeting audience, and what each ad
platform has been told.

A journey adds her (`await self.add_to_audience("cart_abandoners")`) or removes her;
when her run ends (she ordered, converted, or the journey is over) she is removed
automatically. That desired state is `audience_members`. A scheduled sync
(activities/audiences.py) tells each destination the difference from what it was last
told (`audience_syncs`), in batches:

- **Meta Custom Audiences**: `POST` (add) / `DELETE` (remove) `{base}/{audience_id}/users`
  with `{"payload": {"schema": ["EMAIL", "PHONE"], "data": [[sha256, sha256], ...]}}`,
  at most 10,000 people per request, as Meta documents; identifiers normalized first
  (email trimmed and lower-cased; phone digits only, with the country code);
- **Google Customer Match**: an offline user data job
  (`offlineUserDataJobs:create`, `:addOperations` with `create` or `remove`
  operations of `userIdentifiers` `hashedEmail` / `hashedPhoneNumber`, then `:run`), as
  the Google Ads API documents; email normalized Google's way (gmail.com dots dropped),
  phone in E.164;
- **a signed webhook** (HMAC-SHA256, like the webhook channel), for anything else.

Consent: she is in an audience on a platform only while she has not opted out of
marketing ads (`ads` channel, `marketing` topic) nor marketing email (the address is
what is matched), nor declined either ad signal (`ad_user_data`, `ad_personalization`:
sojourn/identity/consent.py); where the EU's rules apply (`SOJOURN_EU_CONSENT`, on by
default), only while she has granted both. Google is told her two signals with each
person (`UserData.consent`): GRANTED, or UNSPECIFIED where she chose nothing. Losing
consent removes her at the next sync. Someone with no email or phone can't be matched
and is not sent.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.db import upsert
from sojourn.ground.models import AD_TOPICS, AudienceMember, AudienceSync, Consent, Customer, utcnow

META_BATCH = 10_000
GOOGLE_BATCH = 10_000
WEBHOOK_BATCH = 1_000
GMAIL = ("gmail.com", "googlemail.com")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalized_email(email: str | None, *, google: bool = False) -> str | None:
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    if not local or not domain:
        return None
    if google and domain in GMAIL:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def normalized_phone(phone: Any) -> str | None:
    """Digits with the country code, as both platforms want before hashing (Meta: no
    "+"; Google: E.164, with "+"). Only numbers written with their country code
    ("+33 6 12 34 56 78", "0033 6...") can be matched; a national number can't."""
    if not isinstance(phone, str):
        return None
    text = phone.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        return None
    digits = re.sub(r"\D", "", text)
    return digits if 8 <= len(digits) <= 15 and not digits.startswith("0") else None


@dataclass(frozen=True)
class Person:
    customer_id: str
    email: str | None
    phone: str | None
    ad_user_data: bool | None = None  # her recorded choice; None: she made none
    ad_personalization: bool | None = None

    def consents(self, eu: bool) -> bool:
        choices = (self.ad_user_data, self.ad_personalization)
        return all(choices) if eu else False not in choices

    def google_consent(self) -> dict[str, str]:
        def status(choice: bool | None) -> str:
            return "UNSPECIFIED" if choice is None else ("GRANTED" if choice else "DENIED")

        return {"adUserData": status(self.ad_user_data), "adPersonalization": status(self.ad_personalization)}

    def meta_row(self) -> list[str]:
        email = normalized_email(self.email)
        phone = normalized_phone(self.phone)
        return [sha256(email) if email else "", sha256(phone) if phone else ""]

    def google_identifiers(self) -> list[dict[str, str]]:
        found = []
        if email := normalized_email(self.email, google=True):
            found.append({"hashedEmail": sha256(email)})
        if phone := normalized_phone(self.phone):
            found.append({"hashedPhoneNumber": sha256("+" + phone)})
        return found

    def hashed(self) -> dict[str, str | None]:
        email, phone = normalized_email(self.email), normalized_phone(self.phone)
        return {"customer_id": self.customer_id, "email_sha256": sha256(email) if email else None,
                "phone_sha256": sha256(phone) if phone else None}

    @property
    def matchable(self) -> bool:
        return bool(normalized_email(self.email) or normalized_phone(self.phone))


async def set_member(session: AsyncSession, audience: str, customer_id: str, member: bool, reason: str) -> None:
    stmt = upsert(session, AudienceMember).values(audience=audience, customer_id=customer_id, member=member,
                                                  reason=reason[:255], changed_at=utcnow())
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["audience", "customer_id"],
        set_={"member": stmt.excluded.member, "reason": stmt.excluded.reason, "changed_at": stmt.excluded.changed_at}))


async def _opted_out(session: AsyncSession, customer_ids: list[str]) -> set[str]:
    if not customer_ids:
        return set()
    rows = await session.scalars(select(Consent.customer_id).where(
        Consent.topic == "marketing", Consent.subscribed.is_(False), Consent.channel.in_(("ads", "email"))))
    wanted = set(customer_ids)
    return {c for c in rows.all() if c in wanted}  # opt-outs are few; the audience may be large


@dataclass
class Changes:
    add: list[Person]
    remove: list[Person]


async def _ad_choices(session: AsyncSession) -> dict[str, dict[str, bool]]:
    rows = await session.execute(select(Consent.customer_id, Consent.topic, Consent.subscribed).where(
        Consent.channel == "ads", Consent.topic.in_(AD_TOPICS)))
    found: dict[str, dict[str, bool]] = {}
    for customer_id, topic, granted in rows:
        found.setdefault(customer_id, {})[topic] = granted
    return found


async def changes(session: AsyncSession, destination: str, audience: str, limit: int, *,
                  eu: bool = True) -> Changes:
    """What `destination` must be told about `audience`: who joined (matchable and
    consenting) and who left (removed, opted out, or no longer consenting) since it
    was last told. `eu`: the EU's rules apply (module docstring)."""
    # Two plain reads, matched here: whatever the planner knows about the tables, this
    # stays linear in the audience's size. Members already told are read too: an
    # opt-out shows there.
    rows = (await session.execute(
        select(AudienceMember.customer_id, AudienceMember.member, Customer.email, Customer.traits)
        .outerjoin(Customer, Customer.id == AudienceMember.customer_id)
        .where(AudienceMember.audience == audience).order_by(AudienceMember.changed_at))).all()
    known = dict((await session.execute(select(AudienceSync.customer_id, AudienceSync.member).where(
        AudienceSync.destination == destination, AudienceSync.audience == audience))).all())
    out = await _opted_out(session, [r[0] for r in rows])
    chosen = await _ad_choices(session)
    add: list[Person] = []
    remove: list[Person] = []
    for customer_id, wanted, email, traits in rows:
        told = known.get(customer_id)
        choices = chosen.get(customer_id, {})
        person = Person(customer_id, email, (traits or {}).get("phone") if isinstance(traits, dict) else None,
                        choices.get("ad_user_data"), choices.get("ad_personalization"))
        should = bool(wanted) and customer_id not in out and person.matchable and person.consents(eu)
        if should and told is not True:
            add.append(person)
        elif not should and told is True:
            remove.append(person)
    return Changes(add[:limit], remove[:limit])


async def told(session: AsyncSession, destination: str, audience: str, people: list[Person], member: bool,
               at: datetime | None = None) -> None:
    """Record what the destination now knows (after it answered 2xx), in one statement."""
    if not people:
        return
    stmt = upsert(session, AudienceSync)
    stmt = stmt.on_conflict_do_update(index_elements=["destination", "audience", "customer_id"],
                                      set_={"member": stmt.excluded.member, "synced_at": stmt.excluded.synced_at})
    when = at or utcnow()
    await session.execute(stmt, [{"destination": destination, "audience": audience, "customer_id": p.customer_id,
                                  "member": member, "synced_at": when} for p in people])
