"""Coupon pools, for operators: fill an offer's pool (generate codes, or import a CSV)
and see each pool's codes by state (sojourn/coupons/pools.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from api.calls import BadRequest
from api.deps import OperatorKey, SessionsDep
from sojourn.coupons import pools
from sojourn.ground.db import write_lock

router = APIRouter(prefix="/v1/coupons", tags=["operators"])
Offer = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
MAX_CSV_BYTES = 10 * 1024 * 1024  # about 400,000 codes a file (README: coupon pools)


class Generate(BaseModel):
    count: int = Field(ge=1, le=pools.GENERATE_LIMIT)
    prefix: str = Field(default="", max_length=32)
    length: int = Field(default=8, ge=4, le=32)
    low_stock: int | None = Field(default=None, ge=0)


@router.get("")
async def list_pools(_key: OperatorKey, sessions: SessionsDep) -> dict[str, Any]:
    async with write_lock(sessions), sessions() as session:
        return {"pools": await pools.by_offer(session)}


@router.post("/{offer}/generate", status_code=201)
async def generate(offer: Offer, body: Generate, _key: OperatorKey, sessions: SessionsDep) -> dict[str, Any]:
    async with write_lock(sessions), sessions() as session:
        try:
            made = await pools.generate(session, offer, body.count, prefix=body.prefix, length=body.length,
                                          low_stock=body.low_stock)
        except pools.PoolError as exc:
            raise BadRequest(str(exc), 422) from None
        await session.commit()
        left = await pools.available(session, offer)
    return {"offer": offer, "generated": made, "available": left}


@router.post("/{offer}/import", status_code=201, max_body_size=MAX_CSV_BYTES)
async def import_csv(offer: Offer, request: Request, _key: OperatorKey, sessions: SessionsDep,
                     low_stock: int | None = None) -> dict[str, Any]:
    """A CSV body (text/csv): a `code` column, or codes one per line; an optional
    `expires_at` column. All or nothing: any bad line refuses the file, naming it."""
    raw = await request.body()  # at most MAX_CSV_BYTES: the route's cap stops the read past it (413)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the file must be UTF-8 text") from None
    codes, problems = pools.parse_csv(text)
    if problems:
        raise BadRequest("; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else ""))
    if low_stock is not None and low_stock < 0:
        raise BadRequest("low_stock must be 0 or more")
    async with write_lock(sessions), sessions() as session:
        added, present = await pools.import_codes(session, offer, codes, low_stock)
        await session.commit()
        left = await pools.available(session, offer)
    return {"offer": offer, "imported": added, "already_there": present, "available": left}
