"""On-site messages for the storefront: fetch by placement, acknowledge when shown or
dismissed. Her data: the write key needs her proof (api/proof.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import or_, select, update

from api.deps import SessionsDep, SettingsDep, SignerDep
from api.proof import CallerDep, act_for
from sojourn.models import OnsiteMessage, utcnow

router = APIRouter(prefix="/v1/customers", tags=["on-site"])


@router.get("/{customer_id}/messages")
async def onsite_messages(customer_id: str, caller: CallerDep, sessions: SessionsDep, settings: SettingsDep,
                          signer: SignerDep, placement: str | None = None) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc)
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
    return [{"id": r.id, "placement": r.placement, "journey": r.journey, "step": r.step, "content": r.content,
             "created_at": r.created_at.isoformat()} for r in rows]


@router.post("/{customer_id}/messages/{message_id}/ack", status_code=status.HTTP_204_NO_CONTENT)
async def acknowledge(customer_id: str, message_id: int, caller: CallerDep, sessions: SessionsDep,
                      settings: SettingsDep, signer: SignerDep) -> None:
    customer_id = await act_for(customer_id, caller, sessions, settings, signer)
    async with sessions() as session:
        result = await session.execute(
            update(OnsiteMessage)
            .where(OnsiteMessage.id == message_id, OnsiteMessage.customer_id == customer_id)
            .values(acknowledged_at=utcnow())
        )
        await session.commit()
    if not result.rowcount:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no on-site message {message_id} for {customer_id!r}")
