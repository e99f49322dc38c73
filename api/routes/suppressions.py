"""The suppression list, for operators and the mail provider's feedback loop:
complaints ("this is spam") and bounces reported outside SMTP."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import delete

from api.deps import OperatorKey, SessionsDep
from sojourn.ground.models import Suppression
from sojourn.identity.consent import suppress, suppression

router = APIRouter(prefix="/v1/suppressions", tags=["consent"])


class SuppressionIn(BaseModel):
    channel: Literal["email", "push", "webhook", "onsite"] = "email"
    address: str = Field(min_length=3, max_length=512)
    reason: Literal["bounce", "complaint"]
    detail: str = Field(default="", max_length=2000)


@router.post("", status_code=status.HTTP_201_CREATED)
async def add(body: SuppressionIn, _key: OperatorKey, sessions: SessionsDep) -> dict[str, str]:
    async with sessions() as session:
        await suppress(session, body.channel, body.address, body.reason, body.detail)
        await session.commit()
    return {"channel": body.channel, "address": body.address.lower(), "reason": body.reason}


@router.delete("/{channel}/{address}", status_code=status.HTTP_204_NO_CONTENT)
async def remove(channel: str, address: str, _key: OperatorKey, sessions: SessionsDep) -> None:
    async with sessions() as session:
        if await suppression(session, channel, address) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{address!r} is not suppressed on {channel}")
        await session.execute(delete(Suppression).where(Suppression.channel == channel,
                                                        Suppression.address == address.lower()))
        await session.commit()
