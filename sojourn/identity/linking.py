"""Identity: the anonymous visitor and the customer she turns out to be are one person.

Anonymous ids and user ids are two namespaces (sojourn/ground/calls.py): a visitor is
filed under "anonymous:<anonymousId>", a customer under her userId, so no anonymous id
can ever stand for a user id, and a browser that claims or links "user-1001" as its
anonymous id touches "anonymous:user-1001", never the customer user-1001.

An identify that carries both `anonymousId` and `userId` links the visitor to the
customer; an `alias` links its `previousId`: her anonymous id when it is the message's
`anonymousId` (as analytics.js sends it), otherwise another user id (which only the
shop's backend may link: api/proof.py). The link is made in the store's transaction:
- the earlier profile merges into the customer's: traits and profile fields (the
  customer's own win), facts (orders and revenue add up, first times take the earliest,
  last times the latest), consents (the customer's own choices win), push
  subscriptions, on-site messages, and the journey runs started for it, which the
  router then reaches with the customer's events;
- the link is kept (`identities`), so later events that carry only the anonymous id
  count as hers, and sends of a run started for the visitor read the customer's profile
  (`canonical`).

The first link of an id wins; a later one to another customer is refused (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.calls import Call, anonymous_customer, anonymous_id_of
from sojourn.ground.db import dialect, insert_for, rowcount
from sojourn.ground.facts import RECENTLY_VIEWED, Facts, facts_of
from sojourn.ground.models import (
    Consent,
    CouponCode,
    Customer,
    Identity,
    JourneyEntry,
    JourneyRun,
    OnsiteMessage,
    PushSubscription,
    table,
    utcnow,
)

log = logging.getLogger("sojourn.identity.linking")
CUSTOMERS = table(Customer)
PROFILE = ("email", "first_name", "timezone")


def previous_id(message: Call) -> str | None:
    """The earlier profile this message links to its user, if any: the anonymous
    visitor's ("anonymous:<id>"), or, for an alias, what its previousId names: her
    anonymous id when it is the message's anonymousId (as analytics.js sends it) or is
    written "anonymous:<id>"; otherwise a bare id, which `resolve` reads as a user id
    if a customer has it and as an anonymous id if not."""
    if message.user_id is None or not message.may_link:
        return None
    earlier: str | None = None
    if message.type == "identify" and message.anonymous_id:
        earlier = anonymous_customer(message.anonymous_id)
    elif message.type == "alias" and message.previous_id:
        earlier = (anonymous_customer(message.previous_id) if message.previous_id == message.anonymous_id
                   else message.previous_id)
    return earlier if earlier and earlier != message.user_id else None


async def _named(session: AsyncSession, earlier: str) -> str:
    """A bare alias previousId: the known customer's user id, else the visitor's."""
    if anonymous_id_of(earlier) is not None:
        return earlier
    known = await session.scalar(select(Customer.known).where(Customer.id == earlier))
    return earlier if known else anonymous_customer(earlier)


async def resolve(session: AsyncSession, messages: Sequence[Call]) -> None:
    """Make the links these messages carry, then point each message that has only an
    anonymous id at the customer that id belongs to (`Message.customer_id`)."""
    links = [(await _named(session, earlier) if m.type == "alias" else earlier, m.user_id)
             for m in messages if (earlier := previous_id(m)) and m.user_id]
    anonymous = {m.customer_id for m in messages if m.user_id is None}
    wanted = anonymous | {earlier for earlier, _ in links}
    if not wanted:
        return
    known: dict[str, str] = dict((await session.execute(
        select(Identity.alias_id, Identity.customer_id).where(Identity.alias_id.in_(sorted(wanted)))
    )).all())
    for earlier, user in links:
        if earlier in known:
            if known[earlier] != user:
                log.warning("%s is linked to %s already; not linked to %s", earlier, known[earlier], user)
            continue
        if await link(session, earlier, user):
            known[earlier] = user
    for m in messages:
        if m.user_id is None and m.customer_id in known:
            m.customer_id = known[m.customer_id]


async def link(session: AsyncSession, earlier: str, user: str) -> bool:
    """Link `earlier` (a visitor's profile, or another user's for the shop's own alias)
    to `user` and merge its profile in. False (nothing done) if it was linked already."""
    query = select(CUSTOMERS).where(CUSTOMERS.c.id.in_(sorted({earlier, user}))).order_by(CUSTOMERS.c.id)
    if dialect(session) == "postgresql":
        query = query.with_for_update()
    rows = {r["id"]: dict(r) for r in (await session.execute(query)).mappings()}
    anon = rows.get(earlier)
    inserted = await session.execute(
        insert_for(dialect(session))(table(Identity))
        .values(alias_id=earlier, customer_id=user, linked_at=utcnow())
        .on_conflict_do_nothing(index_elements=["alias_id"])
    )
    if not rowcount(inserted):  # another request linked it in the meantime
        return False
    if anon is not None:
        await _merge(session, anon, rows.get(user), user)
    return True


async def _merge(session: AsyncSession, anon: dict[str, Any], target: dict[str, Any] | None, user: str) -> None:
    earlier = anon["id"]
    if target is None:  # she is new as a customer: her anonymous profile becomes hers
        await session.execute(insert(CUSTOMERS).values({**anon, "id": user}))
    else:
        await session.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == user).values(merged(anon, target)))
    # Her consents: the customer's own choice for a channel and topic wins.
    theirs = table(Consent).alias("theirs")
    await session.execute(delete(Consent).where(
        Consent.customer_id == earlier,
        exists(select(theirs.c.customer_id).where(and_(
            theirs.c.customer_id == user, theirs.c.channel == Consent.channel, theirs.c.topic == Consent.topic,
        )).correlate(table(Consent))),
    ))
    # Her coupons too: a code issued to the visitor is hers, and so is its redemption.
    for model in (Consent, PushSubscription, OnsiteMessage, JourneyRun, JourneyEntry, CouponCode):
        await session.execute(update(model).where(model.customer_id == earlier).values(customer_id=user))
    await session.execute(delete(Customer).where(Customer.id == earlier))
    log.info("merged anonymous profile %s into %s", earlier, user)


def merged(anon: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The customer's row with her anonymous profile folded in."""
    a, t = facts_of(SimpleNamespace(**anon)), facts_of(SimpleNamespace(**target))
    facts = Facts(
        first_seen_at=_first(a.first_seen_at, t.first_seen_at),
        last_seen_at=_last(a.last_seen_at, t.last_seen_at),
        platform=t.platform or a.platform,
        orders_count=a.orders_count + t.orders_count,
        revenue=round(a.revenue + t.revenue, 2),
        first_order_at=_first(a.first_order_at, t.first_order_at),
        last_order_at=_last(a.last_order_at, t.last_order_at),
        last_order_products=(t.last_order_products if _later(t.last_order_at, a.last_order_at)
                             else a.last_order_products),
        recently_viewed=list(dict.fromkeys([*t.recently_viewed, *a.recently_viewed]))[:RECENTLY_VIEWED],
        signed_up_at=_first(a.signed_up_at, t.signed_up_at),
        newsletter_subscribed=t.newsletter_subscribed if t.newsletter_subscribed is not None
        else a.newsletter_subscribed,
        app_installed_at=_first(a.app_installed_at, t.app_installed_at),
        loyalty_member_at=_first(a.loyalty_member_at, t.loyalty_member_at),
        purchase_likelihood=t.purchase_likelihood if t.purchase_likelihood is not None else a.purchase_likelihood,
    )
    values: dict[str, Any] = {f.name: getattr(facts, f.name) for f in fields(Facts)}
    values["traits"] = {**(anon["traits"] or {}), **(target["traits"] or {})}
    values.update({k: target[k] or anon[k] for k in PROFILE})
    values["anonymous_id"] = target["anonymous_id"] or anon["anonymous_id"] or anonymous_id_of(anon["id"])
    values["updated_at"] = utcnow()
    return values


def _first(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(x for x in (a, b) if x is not None) if a or b else None


def _last(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(x for x in (a, b) if x is not None) if a or b else None


def _later(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a >= b)


async def canonical(session: AsyncSession, customer_id: str) -> str:
    """The customer an id belongs to now: itself, or the customer it was linked to."""
    linked = await session.scalar(select(Identity.customer_id).where(Identity.alias_id == customer_id))
    return linked or customer_id
