"""Referral links: `/v1/r/<code>` is the link a customer shares. The code is signed
(sojourn/links/referrals.py), so it can't be forged for someone else. Opening it records
"Referral Link Opened" for the referrer (a journey can wait for it; it counts toward
the referral KPI) and lands the friend on the store with the code to redeem."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import RedirectResponse

from api.deps import SettingsDep, SignerDep, StoreDep
from sojourn.ground.calls import Call
from sojourn.links.referrals import read_referral_code

router = APIRouter(tags=["tracking"])


@router.get("/v1/r/{code}", include_in_schema=False)
async def open_referral(code: str, signer: SignerDep, store: StoreDep, settings: SettingsDep) -> RedirectResponse:
    referrer = read_referral_code(signer, code)
    if referrer is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this referral link is not valid")
    await store.accept([Call(
        type="track", message_id=f"referral-{uuid.uuid4()}", customer_id=referrer, user_id=referrer,
        anonymous_id=None, name="Referral Link Opened", properties={"referral_code": code},
        timestamp=datetime.now(UTC),
    )])
    # A fixed destination: the store's own page, with the code to redeem there.
    return RedirectResponse(f"{settings.store_url.rstrip('/')}/?ref={quote(code, safe='')}",
                            status_code=status.HTTP_302_FOUND)
