"""Who may act for a customer.

A storefront's write key is public: anyone can copy it from the page. With it alone a
caller may only append events. Reading a customer's data or changing where her
messages go (her on-site messages, her push subscriptions, her email, linking a
browser's anonymous id to her) needs proof that the caller is her:

- a **server key** (`SOJOURN_SERVER_KEYS`, Basic auth like a write key, never in a
  page): the shop's backend, with every right;
- a **customer token** in `X-Sojourn-Token`, signed by the shop's backend for the
  shopper who is signed in, with `SOJOURN_IDENTITY_SECRET` and an expiry
  (`v1.<expires>.<hex HMAC-SHA256>`: sojourn/ground/signing.py; Intercom's identity
  verification, Braze's SDK authentication);
- an **anonymous token** in `X-Sojourn-Token`, for a visitor who has not signed in:
  Sojourn issues it to the first browser that claims an anonymous id
  (`POST /v1/browser/anonymous-token`), and it stops counting once that id is linked
  to a known customer: from then on she proves herself with her customer token.

Anonymous ids and user ids never mix (sojourn/ground/calls.py): what a browser proves
with an anonymous token is the visitor "anonymous:<id>", and it links that visitor to
a customer only with both proofs. An identify from her browser whose anonymousId it
does not prove, and which no browser claimed, is taken for her without the link:
nothing of that visitor's moves to her.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status

from api.calls import BadRequest
from api.deps import SessionsDep, SettingsDep, _basic_username, _unauthorized, one_of, valid_write_key
from sojourn.ground.calls import Call, anonymous_customer, anonymous_id_of
from sojourn.ground.models import AnonymousClaim
from sojourn.ground.settings import Settings
from sojourn.ground.signing import Signer, verify_customer_token
from sojourn.ground.signing import customer_token as customer_token  # what the shop's backend signs
from sojourn.identity.consent import ad_choices
from sojourn.identity.linking import canonical
from sojourn.links.referrals import RECORDED_BY_SOJOURN

TOKEN_HEADER = "X-Sojourn-Token"
ANONYMOUS_TOKEN_HEADER = "X-Sojourn-Anonymous-Token"
ANONYMOUS = "anonymous:"


def anonymous_token(anonymous_id: str, signer: Signer) -> str:
    return signer.sign(ANONYMOUS + anonymous_id)


@dataclass(frozen=True)
class Caller:
    """A write-key or server-key caller, and the token it showed, if any."""

    role: Literal["server", "browser"]
    token: str | None
    anonymous_token: str | None = None  # X-Sojourn-Anonymous-Token: when a link names a claimed anonymous id

    @property
    def server(self) -> bool:
        return self.role == "server"


def _is_server_key(key: str, settings: Settings) -> bool:
    return one_of(key, settings.server_keys)


def caller_of(request: Request, settings: Settings, key: str | None) -> Caller:
    token = request.headers.get(TOKEN_HEADER) or None
    if key is not None and _is_server_key(key, settings):
        return Caller("server", token)
    return Caller("browser", token, request.headers.get(ANONYMOUS_TOKEN_HEADER) or None)


async def require_caller(request: Request, settings: SettingsDep) -> Caller:
    """A server key, or a write key (then proof comes with the token)."""
    key = _basic_username(request)
    if key is None:
        raise _unauthorized("missing key: use HTTP Basic auth with a write key or server key as the username")
    if _is_server_key(key, settings):
        return caller_of(request, settings, key)
    valid_write_key(key, settings)
    return caller_of(request, settings, key)


CallerDep = Annotated[Caller, Depends(require_caller)]


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail)


def proves_customer(caller: Caller, user_id: str, settings: Settings) -> bool:
    if caller.server:
        return True
    if not caller.token or not settings.identity_secret:
        return False
    return verify_customer_token(caller.token, user_id, settings.identity_secret,
                                 max_seconds=settings.customer_token_max_seconds,
                                 legacy=settings.legacy_customer_tokens)


def proves_anonymous(caller: Caller, anonymous_id: str, signer: Signer) -> bool:
    return bool(caller.token) and signer.verify(caller.token or "") == ANONYMOUS + anonymous_id


async def act_for(customer_id: str, caller: Caller, sessions: SessionsDep, settings: Settings,
                  signer: Signer) -> str:
    """The profile `customer_id` (a path's) stands for now, if the caller proves it is
    hers; else 403. A server key names any profile as it is filed ("anonymous:<id>" for
    a visitor); her customer token proves a user id; a browser's anonymous token proves
    its anonymous id, which then names "anonymous:<id>" (written either way), never
    the user who happens to have the same id."""
    async with sessions() as session:
        if caller.server:
            return await canonical(session, customer_id)
        if anonymous_id_of(customer_id) is None and proves_customer(caller, customer_id, settings):
            return await canonical(session, customer_id)
        raw = anonymous_id_of(customer_id) or customer_id
        visitor = anonymous_customer(raw)
        current = await canonical(session, visitor)
        if current != visitor and proves_customer(caller, current, settings):
            return current  # her browser's anonymous id, linked to her: she proves who she is
        if proves_anonymous(caller, raw, signer):
            if current == visitor:
                return current
            raise _forbidden("this visitor has signed in since: prove it with her customer token "
                             f"({TOKEN_HEADER}, signed by the shop's backend)")
    raise _forbidden(f"a write key only appends events; acting for {customer_id!r} needs her customer token "
                     f"or this browser's anonymous token in {TOKEN_HEADER}, or a server key")


async def check_messages(messages: list[Call], caller: Caller, sessions: SessionsDep, settings: Settings,
                         signer: Signer) -> None:
    """From a browser, an identify or alias that links ids, or that sets any trait, must
    be proven; anything else is just appended. Every trait counts, not only the email
    and phone that say where her messages go: a journey may show any of them back to
    her (her first name in the greeting bar and the emails) or decide by it. Refused as ingestion
    refuses anything: 403 with `{"success": false, "error": ...}`, nothing stored."""
    if caller.server:
        for m in messages:
            m.consent_proven = m.from_server = True
        return
    try:
        await _check_messages(messages, caller, sessions, settings, signer)
    except HTTPException as refused:
        raise BadRequest(str(refused.detail), refused.status_code) from None
    for m in messages:
        # Consent Management puts her choices on every call, page views too: a call
        # without proof is still taken, and her choices on it are not recorded.
        if ad_choices(m.context):
            m.consent_proven = await _proven(m, caller, sessions, settings, signer)


async def _check_messages(messages: list[Call], caller: Caller, sessions: SessionsDep, settings: Settings,
                          signer: Signer) -> None:
    for i, m in enumerate(messages):
        where = f"batch[{i}]" if len(messages) > 1 else "the message"
        if m.type == "track" and m.name in RECORDED_BY_SOJOURN:
            raise _forbidden(f"{where}: {m.name!r} is recorded by Sojourn itself (a referral is told with "
                             "POST /v1/customers/{id}/referral), never sent from a browser")
        links = m.type == "alias" or (m.type == "identify" and m.user_id and m.anonymous_id)
        sets_traits = m.type == "identify" and bool(m.traits)
        if not links and not sets_traits:
            continue
        if m.user_id:
            if not proves_customer(caller, m.user_id, settings):
                what = "links this browser to" if links else "sets the traits of"
                raise _forbidden(f"{where} {what} {m.user_id!r}: that needs her customer token in {TOKEN_HEADER} "
                                 "(signed by the shop's backend, not expired) or a server key")
            if links:
                await _check_link(m, where, caller, sessions, signer)
        else:
            # A visitor leaving her own email or name (a lead form, a spin-to-win) on
            # her own anonymous profile: this browser's anonymous token is proof enough.
            await act_for(m.customer_id, caller, sessions, settings, signer)


async def _check_link(m: Call, where: str, caller: Caller, sessions: SessionsDep, signer: Signer) -> None:
    """A browser links only the anonymous id it proves to the user id it proves."""
    linked = m.previous_id if m.type == "alias" else m.anonymous_id
    if not linked:
        return
    if m.type == "alias" and linked != m.anonymous_id:
        if anonymous_id_of(linked) is None:
            raise _forbidden(f"{where} links {linked!r} to {m.user_id!r}: from a browser, an alias's previousId is "
                             "its anonymousId; linking one user id to another needs a server key")
        linked = anonymous_id_of(linked) or linked
    if signer.verify(caller.anonymous_token or "") == ANONYMOUS + linked:
        return
    if await _claimed(linked, sessions):
        # A browser that claimed its anonymous id holds her on-site messages and
        # push subscription: only that browser may bring them into a customer.
        raise _forbidden(f"{where} links the anonymous id {linked!r}, which a browser claimed: that needs "
                         f"its anonymous token in {ANONYMOUS_TOKEN_HEADER}")
    # Not proven, and claimed by no browser: the call is taken for her (her own proof
    # holds), and nothing of that visitor's moves to her.
    m.may_link = False


async def _proven(m: Call, caller: Caller, sessions: SessionsDep, settings: Settings, signer: Signer) -> bool:
    if m.user_id:
        return proves_customer(caller, m.user_id, settings)
    try:
        await act_for(m.customer_id, caller, sessions, settings, signer)
    except HTTPException:
        return False
    return True


async def _claimed(anonymous_id: str, sessions: SessionsDep) -> bool:
    async with sessions() as session:
        return await session.get(AnonymousClaim, anonymous_id) is not None


def body_caller(request: Request, settings: Settings, header_key: str | None, body: object) -> Caller:
    """For ingestion, where the write key may come in the body."""
    key = header_key if header_key is not None else (body.get("writeKey") if isinstance(body, dict) else None)
    return caller_of(request, settings, key if isinstance(key, str) else None)

