"""What a storefront's pages load from Sojourn: sojourn.js and its push service
worker (api/static/), and a visitor's proof before she signs in, the anonymous
token (api/proof.py).

The first browser to claim an anonymous id gets its token; nobody gets it twice, so
a visitor's id copied from somewhere later is worth nothing. A visitor already linked
to a known customer gets no anonymous token at all. What is claimed is an anonymous
id, never a user id, whatever it looks like.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import SessionsDep, SignerDep, WriteKey
from api.limits import BrowserLimit
from api.proof import TOKEN_HEADER, anonymous_token
from sojourn.ground.calls import anonymous_customer
from sojourn.ground.db import write_lock
from sojourn.ground.models import AnonymousClaim, Customer, utcnow
from sojourn.identity.linking import canonical

router = APIRouter(prefix="/v1/browser", tags=["storefront"])
scripts = APIRouter(prefix="/v1", tags=["storefront"])
STATIC = Path(__file__).resolve().parents[1] / "static"


def _script(name: str) -> FileResponse:
    # Public, like any script a page includes; cached briefly so a fix reaches shops soon.
    return FileResponse(STATIC / name, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})


@scripts.get("/sojourn.js", summary="the storefront script (placements, reports, push)")
async def sojourn_js() -> FileResponse:
    return _script("sojourn.js")


@scripts.get("/sojourn-sw.js", summary="the push service worker, for the shop's one-line importScripts")
async def sojourn_sw() -> FileResponse:
    return _script("sojourn-sw.js")


class Claim(BaseModel):
    anonymousId: str = Field(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")


class Token(BaseModel):
    anonymousId: str
    token: str
    header: str = TOKEN_HEADER


@router.post("/anonymous-token", status_code=status.HTTP_201_CREATED)
async def claim_anonymous_id(body: Claim, _key: WriteKey, _limit: BrowserLimit, sessions: SessionsDep,
                             signer: SignerDep) -> Token:
    async with write_lock(sessions), sessions() as session:
        # Her anonymous id, in its own namespace: claiming "user-1002" claims the visitor
        # "anonymous:user-1002", never the customer user-1002 (sojourn/ground/calls.py).
        current = await canonical(session, anonymous_customer(body.anonymousId))
        if await session.scalar(select(Customer.known).where(Customer.id == current)):
            raise HTTPException(status.HTTP_409_CONFLICT,
                                "this visitor has signed in since: she proves herself with her customer token")
        session.add(AnonymousClaim(anonymous_id=body.anonymousId, claimed_at=utcnow()))
        try:
            await session.commit()
        except IntegrityError:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                "this anonymous id was claimed already; a new visitor needs a new id") from None
    return Token(anonymousId=body.anonymousId, token=anonymous_token(body.anonymousId, signer))
