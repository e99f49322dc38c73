"""On-site messages for the storefront (sojourn.js): fetch them, report what became of
each (viewed, clicked, dismissed). Her data: the write key needs her proof
(api/proof.py).

A message lives until its TTL, until its run exits or ends (withdrawn), or until she
dismisses it, whichever comes first. Each placement is shown to one customer at most
`settings.onsite_frequency` times per window, counted from her impressions. Each
report is also an event ("Onsite Message Viewed", "... Clicked", "... Dismissed"),
routed to journeys like any other.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.deps import SessionsDep, SettingsDep, SignerDep, StoreDep
from api.proof import CallerDep, act_for
from sojourn.ground.calls import Call, anonymous_id_of
from sojourn.ground.db import rowcount
from sojourn.ground.models import OnsiteMessage, OnsiteView, utcnow
from sojourn.ground.settings import Settings, parse_caps
from sojourn.links.tracking import run_of
from sojourn.pipeline.store import Store

router = APIRouter(prefix="/v1/customers", tags=["on-site"])

# A message's id is a database integer: anything past it is no message (400 naming it),
# never an overflow in the driver (PostgreSQL's int4).
MessageId = Annotated[int, Path(ge=1, le=2**31 - 1)]

EVENTS = {"viewed": "Onsite Message Viewed", "clicked": "Onsite Message Clicked",
          "dismissed": "Onsite Message Dismissed"}


async def _placements_at_cap(session: AsyncSession, customer_id: str, settings: Settings, now: datetime) -> set[str]:
    caps = parse_caps(settings.onsite_frequency)
    if not caps:
        return set()
    longest = max(window for _, window in caps.values())
    views = (await session.execute(
        select(OnsiteView.placement, OnsiteView.at).where(
            OnsiteView.customer_id == customer_id, OnsiteView.kind == "viewed", OnsiteView.at > now - longest)
    )).all()
    seen: dict[str, list[datetime]] = {}
    for placement, at in views:
        seen.setdefault(placement, []).append(at if at.tzinfo else at.replace(tzinfo=UTC))
    full: set[str] = set()
    for placement, times in seen.items():
        limit, window = caps.get(placement) or caps.get("*") or (None, None)
        if limit is not None and window is not None and sum(1 for at in times if at > now - window) >= limit:
            full.add(placement)
    return full


@router.get("/{customer_id}/messages")
async def onsite_messages(customer_id: str, caller: CallerDep, sessions: SessionsDep, settings: SettingsDep,
                          signer: SignerDep, placement: str | None = None) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    # Hers (an anonymous id linked since: the customer's), once the caller proves it.
    customer_id = await act_for(customer_id, caller, sessions, settings, signer)
    query = select(OnsiteMessage).where(
        OnsiteMessage.customer_id == customer_id,
        OnsiteMessage.acknowledged_at.is_(None),
        OnsiteMessage.withdrawn_at.is_(None),
        or_(OnsiteMessage.expires_at.is_(None), OnsiteMessage.expires_at > now),
    ).order_by(OnsiteMessage.created_at.desc(), OnsiteMessage.id.desc()).limit(50)
    if placement:
        query = query.where(OnsiteMessage.placement == placement)
    async with sessions() as session:
        rows = (await session.scalars(query)).all()
        full = await _placements_at_cap(session, customer_id, settings, now) if rows else set()
    return [{"id": r.id, "placement": r.placement, "journey": r.journey, "step": r.step, "content": r.content,
             "created_at": r.created_at.isoformat()} for r in rows if r.placement not in full]


async def _report(customer_id: str, message_id: int, kind: str, sessions: async_sessionmaker[AsyncSession], store: Store) -> None:
    async with sessions() as session:
        message = await session.scalar(select(OnsiteMessage).where(
            OnsiteMessage.id == message_id, OnsiteMessage.customer_id == customer_id))
        run = await run_of(session, message.idempotency_key) if message is not None else {}
    if message is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no on-site message {message_id} for {customer_id!r}")
    visitor = anonymous_id_of(customer_id)
    event = Call(type="track", message_id=f"onsite-{kind}-{uuid.uuid4()}", customer_id=customer_id,
                    # Her kind of id: a visitor's event must not make her profile "known".
                    user_id=None if visitor else customer_id, anonymous_id=visitor,
                    name=EVENTS[kind], properties={"message_id": message.id, "placement": message.placement,
                                                   "journey": message.journey, "step": message.step, **run})

    async def count(session: AsyncSession) -> None:  # in the event's transaction: both or neither
        now = utcnow()
        session.add(OnsiteView(customer_id=customer_id, placement=message.placement, message_id=message.id,
                               kind=kind, at=now))
        by_kind: dict[str, dict[str, Any]] = {
            "viewed": {"impressions": OnsiteMessage.impressions + 1},
            "clicked": {"clicks": OnsiteMessage.clicks + 1},
            "dismissed": {"acknowledged_at": func.coalesce(OnsiteMessage.acknowledged_at, now)}}
        counted = by_kind[kind]
        await session.execute(update(OnsiteMessage).where(OnsiteMessage.id == message.id).values(**counted))

    await store.accept([event], also=count)


@router.post("/{customer_id}/messages/{message_id}/ack", status_code=status.HTTP_204_NO_CONTENT)
async def acknowledge(customer_id: str, message_id: MessageId, caller: CallerDep, sessions: SessionsDep,
                      settings: SettingsDep, signer: SignerDep) -> None:
    """Shown or dismissed, without counting it (older storefronts); it stops showing."""
    customer_id = await act_for(customer_id, caller, sessions, settings, signer)
    async with sessions() as session:
        result = await session.execute(
            update(OnsiteMessage)
            .where(OnsiteMessage.id == message_id, OnsiteMessage.customer_id == customer_id)
            .values(acknowledged_at=utcnow())
        )
        await session.commit()
    if not rowcount(result):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no on-site message {message_id} for {customer_id!r}")


# After /ack: a path parameter would take "ack" for a kind.
@router.post("/{customer_id}/messages/{message_id}/{kind}", status_code=status.HTTP_204_NO_CONTENT)
async def report(customer_id: str, message_id: MessageId, kind: Literal["viewed", "clicked", "dismissed"],
                 caller: CallerDep, sessions: SessionsDep, settings: SettingsDep, signer: SignerDep,
                 store: StoreDep) -> None:
    """sojourn.js reports an impression, a click or a dismissal (which also takes it down)."""
    customer_id = await act_for(customer_id, caller, sessions, settings, signer)
    await _report(customer_id, message_id, kind, sessions, store)
