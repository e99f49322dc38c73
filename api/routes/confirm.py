"""Double opt-in's link: "please confirm your email" (sojourn/identity/consent.py). The
GET shows a button and changes nothing, since mailbox scanners follow links; her POST
subscribes her and tells every journey "Newsletter Subscribed" (once, however many
times she clicks). The token is signed, names her and the address it was sent to, and
expires; a link for an address no longer on her profile confirms nothing."""

from __future__ import annotations

import time
from html import escape

from fastapi import APIRouter, status
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionsDep, SignerDep, StoreDep
from sojourn.ground.calls import Call, anonymous_id_of
from sojourn.ground.models import Customer
from sojourn.identity.consent import Confirmation, ConsentRef, read_confirmation_token, set_consent
from sojourn.identity.linking import canonical

router = APIRouter(prefix="/v1/confirm", tags=["consent"])


def _page(note: str, token: str | None = None, code: int = status.HTTP_200_OK) -> HTMLResponse:
    form = (f'<form method="post" action="/v1/confirm/{escape(token)}">'
            '<button type="submit">Yes, confirm my email</button></form>') if token else ""
    return HTMLResponse(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>Confirm your email</title>
<meta name="viewport" content="width=device-width"></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto;">
<p>{escape(note)}</p>{form}</body></html>""",
        status_code=code, headers={"Cache-Control": "no-store"})


def _valid(signer: SignerDep, token: str) -> Confirmation | HTMLResponse:
    """What the link confirms, or the page that says why it confirms nothing."""
    confirmation = read_confirmation_token(signer, token)
    if confirmation is None or (confirmation.ref.channel, confirmation.ref.topic) != ("email", "marketing"):
        return _page("This confirmation link is not valid.", code=status.HTTP_400_BAD_REQUEST)
    if confirmation.expires < time.time():
        return _page("This confirmation link has expired. Sign up again to get a new one.",
                     code=status.HTTP_410_GONE)
    return confirmation


@router.get("/{token}", response_class=HTMLResponse)
async def confirmation_page(token: str, signer: SignerDep) -> HTMLResponse:
    confirmation = _valid(signer, token)
    if isinstance(confirmation, HTMLResponse):
        return confirmation
    return _page("Please confirm that you want our offers at this email address.", token)


@router.post("/{token}", response_class=HTMLResponse)
async def confirm(token: str, signer: SignerDep, sessions: SessionsDep, store: StoreDep) -> HTMLResponse:
    confirmation = _valid(signer, token)
    if isinstance(confirmation, HTMLResponse):
        return confirmation
    async with sessions() as session:
        # The customer her visitor id turned out to be, if it was linked since.
        customer_id = await canonical(session, confirmation.ref.customer_id)
        her = await session.get(Customer, customer_id)
        if her is None or not confirmation.for_address(her.email):
            return _page("This link is for an address that is no longer on your profile.",
                         code=status.HTTP_409_CONFLICT)
    visitor = anonymous_id_of(customer_id)

    async def subscribe(session: AsyncSession) -> None:  # with the event, in one transaction
        await set_consent(session, ConsentRef(customer_id, "email", "marketing"), True, "double opt-in")

    await store.accept([Call(  # one messageId per address confirmed: a second click tells nobody twice
        type="track", message_id=f"confirm:{customer_id}:{confirmation.address_digest}", customer_id=customer_id,
        user_id=None if visitor else customer_id, anonymous_id=visitor, name="Newsletter Subscribed",
        properties={"source": "double opt-in"}, context={"library": {"name": "sojourn", "version": "confirm"}})],
        prepare=subscribe)
    return _page("Thank you: your email is confirmed.")
