"""A customer's browsers: web push subscriptions (PushSubscription.toJSON())."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import delete

from api.deps import SessionsDep, SettingsDep, WriteKey
from api.segment import BadRequest
from sojourn.allowlist import refuse_reason
from sojourn.db import upsert
from sojourn.models import Customer, PushSubscription, utcnow

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class SubscriptionKeys(BaseModel):
    p256dh: str = Field(max_length=255)
    auth: str = Field(max_length=255)


class PushSubscriptionIn(BaseModel):
    endpoint: str = Field(max_length=2048)
    keys: SubscriptionKeys
    expirationTime: float | None = None


class PushSubscriptionOut(BaseModel):
    id: int
    customer_id: str
    endpoint: str


def _b64url(value: str, field: str, length: int) -> None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field} is not base64url") from None
    if len(raw) != length or (field == "keys.p256dh" and raw[0] != 4):
        raise BadRequest(f"{field} must decode to {length} bytes" + (" (an uncompressed P-256 point)" if length == 65 else ""))


@router.post("/{customer_id}/push-subscriptions", status_code=status.HTTP_201_CREATED)
async def add_push_subscription(
    customer_id: str, body: PushSubscriptionIn, request: Request, _key: WriteKey, sessions: SessionsDep, settings: SettingsDep
) -> PushSubscriptionOut:
    reason = refuse_reason(body.endpoint, settings.push_allowed_hosts, allow_loopback=settings.outbound_allow_loopback)
    if reason:
        raise BadRequest(f"endpoint {reason}")
    _b64url(body.keys.p256dh, "keys.p256dh", 65)
    _b64url(body.keys.auth, "keys.auth", 16)
    async with sessions() as session:
        await session.execute(
            upsert(session, Customer)
            .values(id=customer_id, traits={}, created_at=utcnow(), updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["id"])
        )
        # One endpoint is one browser: re-subscribing (even as another customer,
        # after a log-in) moves it rather than duplicating it.
        stmt = upsert(session, PushSubscription).values(
            customer_id=customer_id,
            endpoint=body.endpoint,
            p256dh=body.keys.p256dh,
            auth=body.keys.auth,
            user_agent=(request.headers.get("user-agent") or "")[:512] or None,
            created_at=utcnow(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["endpoint"],
            set_={k: stmt.excluded[k] for k in ("customer_id", "p256dh", "auth", "user_agent")},
        ).returning(PushSubscription.id)
        sub_id = (await session.execute(stmt)).scalar_one()
        await session.commit()
    return PushSubscriptionOut(id=sub_id, customer_id=customer_id, endpoint=body.endpoint)


@router.delete("/{customer_id}/push-subscriptions", status_code=status.HTTP_204_NO_CONTENT)
async def remove_push_subscription(customer_id: str, endpoint: str, _key: WriteKey, sessions: SessionsDep) -> None:
    async with sessions() as session:
        await session.execute(
            delete(PushSubscription).where(
                PushSubscription.customer_id == customer_id, PushSubscription.endpoint == endpoint
            )
        )
        await session.commit()
