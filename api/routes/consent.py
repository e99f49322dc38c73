"""Unsubscribe: RFC 8058 one-click (a POST from the mailbox provider, no cookies, no
auth, 200 and no redirect) and a plain confirmation page for people, with re-subscribe.
The link's token is signed: it names the customer, channel and topic it is for."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from api.deps import SessionsDep, SignerDep
from sojourn.identity.consent import ConsentRef, is_subscribed, read_unsubscribe_token, set_consent

router = APIRouter(prefix="/v1/unsubscribe", tags=["consent"])


def _ref(signer: SignerDep, token: str) -> ConsentRef:
    ref = read_unsubscribe_token(signer, token)
    if ref is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this unsubscribe link is not valid")
    return ref


def _page(ref: ConsentRef, token: str, subscribed: bool, note: str = "") -> HTMLResponse:
    what = f"{escape(ref.topic)} {escape(ref.channel)}"
    action, label = ("unsubscribe", "Unsubscribe") if subscribed else ("resubscribe", "Subscribe again")
    state = "You are subscribed to" if subscribed else "You are unsubscribed from"
    return HTMLResponse(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>Email preferences</title>
<meta name="viewport" content="width=device-width"></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto;">
<p>{escape(note)}</p><p>{state} {what}.</p>
<form method="post" action="/v1/unsubscribe/{escape(token)}">
<input type="hidden" name="action" value="{action}"><button type="submit">{label}</button></form>
</body></html>""",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/{token}", response_class=HTMLResponse)
async def confirmation_page(token: str, signer: SignerDep, sessions: SessionsDep) -> HTMLResponse:
    """Shows the choice; a GET changes nothing (link scanners follow links)."""
    ref = _ref(signer, token)
    async with sessions() as session:
        subscribed = await is_subscribed(session, ref)
    return _page(ref, token, subscribed)


@router.post("/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, signer: SignerDep, sessions: SessionsDep) -> HTMLResponse:
    """One-click (body `List-Unsubscribe=One-Click`) or the page's form (`action=...`)."""
    ref = _ref(signer, token)
    body = (await request.body()).decode(errors="replace")
    resubscribe = "action=resubscribe" in body
    async with sessions() as session:
        await set_consent(session, ref, subscribed=resubscribe,
                          source="one-click" if "List-Unsubscribe=One-Click" in body else "page")
        await session.commit()
    return _page(ref, token, resubscribe, "Subscribed again." if resubscribe else "Done: you are unsubscribed.")
