"""Referral links. `/v1/r/<code>` is the link a customer shares: the code is signed
(sojourn/links/referrals.py), so it can't be forged for someone else, and the link lands
the friend on the store with `?ref=<code>`.

The store's page (sojourn.js does it) then tells Sojourn who landed:
`POST /v1/customers/{id}/referral` with the code, proven like any of her calls (her
browser's anonymous token, her customer token, or the shop's server key). Only then is
it known that someone *else* opened the link: the referrer's own visit through her own
link counts for nothing. A friend's landing records, in one transaction, "Referral
Visited" for the friend (the referral welcome journey gives her a first-order coupon)
and "Referral Link Opened" for the referrer (the referral rate), once per friend and
code however often she comes back through it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from api.deps import SessionsDep, SettingsDep, SignerDep, StoreDep
from api.proof import CallerDep, act_for
from sojourn.ground.calls import Call, anonymous_id_of
from sojourn.identity.linking import canonical
from sojourn.links.referrals import read_referral_code

router = APIRouter(tags=["tracking"])


class Landing(BaseModel):
    code: str = Field(min_length=1, max_length=512)


@router.get("/v1/r/{code}", include_in_schema=False)
async def open_referral(code: str, signer: SignerDep, settings: SettingsDep) -> RedirectResponse:
    if read_referral_code(signer, code) is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this referral link is not valid")
    # A fixed destination: the store's own page, with the code; who opened it is told
    # by the page (POST .../referral), since a redirect can't tell the referrer from a friend.
    return RedirectResponse(f"{settings.store_url.rstrip('/')}/?ref={quote(code, safe='')}",
                            status_code=status.HTTP_302_FOUND)


@router.post("/v1/customers/{customer_id}/referral")
async def landed_through_referral(customer_id: str, body: Landing, caller: CallerDep, sessions: SessionsDep,
                                  settings: SettingsDep, signer: SignerDep, store: StoreDep) -> dict[str, Any]:
    """She landed on the store through a referral link (`?ref=<code>`)."""
    who = await act_for(customer_id, caller, sessions, settings, signer)
    referrer = read_referral_code(signer, body.code)
    if referrer is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "code: this referral code is not valid")
    async with sessions() as session:
        referrer = await canonical(session, referrer)
    if referrer == who:
        return {"referred": False, "reason": "her own referral link"}
    tag = hashlib.sha256(body.code.encode()).hexdigest()[:16]
    now = datetime.now(UTC)
    visitor = anonymous_id_of(who)
    await store.accept([
        Call(type="track", message_id=f"referral-visited:{tag}:{who}"[:255], customer_id=who,
             user_id=None if visitor else who, anonymous_id=visitor, name="Referral Visited",
             properties={"referrer": referrer, "referral_code": body.code}, timestamp=now, from_server=True),
        Call(type="track", message_id=f"referral-opened:{tag}:{who}"[:255], customer_id=referrer,
             user_id=None if anonymous_id_of(referrer) else referrer, anonymous_id=anonymous_id_of(referrer),
             name="Referral Link Opened",
             properties={"friend": who, "referral_code": body.code}, timestamp=now, from_server=True),
    ])
    return {"referred": True}
