"""Spin-to-win: the storefront's wheel asks for her email and consent, then the server
draws (sojourn/coupons/wheels.py). Her data: the write key needs her proof (api/proof.py).

One transaction holds all of it: the spin, the slice's count, the prize coupon, her
email consent (with the wheel as its source) and the events that tell journeys:
an identify with her email, "Newsletter Subscribed", "Lead Captured" and "Wheel
Spun" (slice, label, coupon). Either all of it happened or none did.

Double opt-in (on by default): from a browser, her consent is pending and the event is
"Email Confirmation Requested" instead, which the email_confirmation journey answers
with a signed link (api/routes/confirm.py); her prize code is shown all the same. The
shop's backend spinning for her vouches for the address itself.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import ContentDep, SessionsDep, SettingsDep, SignerDep, StoreDep
from api.limits import BrowserLimit
from api.proof import CallerDep, act_for
from sojourn.content.store import ContentStore
from sojourn.coupons import wheels
from sojourn.ground.addresses import EmailNotValidError, one_mailbox, person_key
from sojourn.ground.calls import Call, anonymous_id_of
from sojourn.ground.models import Customer
from sojourn.identity.consent import ConsentRef, ask_to_confirm, set_consent, subscribed_already

router = APIRouter(prefix="/v1", tags=["on-site"])
log = logging.getLogger("sojourn.coupons.wheels")


class SpinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, description="her email: the wheel captures it before it spins")
    consent: bool = Field(description="she agreed to marketing email; a wheel never spins without it")


async def _wheel(content: ContentStore, name: str) -> wheels.Wheel:
    """The wheel as the marketer last published it (content `wheels/<name>`)."""
    source = (await content.snapshot()).items.get(f"wheels/{name}") if wheels.valid_name(name) else None
    if source is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no wheel {name!r}")
    try:
        return wheels.parse(name, source["json"])
    except wheels.WheelError as err:  # the shop's content, not the caller's input (publishing checks it)
        log.error("%s", err)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"wheel {name!r} is misconfigured") from None


@router.get("/wheels/{wheel}")
async def describe(wheel: str, caller: CallerDep, content: ContentDep) -> dict[str, Any]:
    """The slices' labels, for drawing the wheel (never its weights or caps)."""
    return (await _wheel(content, wheel)).describe()


@router.post("/customers/{customer_id}/wheels/{wheel}/spin")
async def spin(customer_id: str, wheel: str, body: SpinRequest, caller: CallerDep, _limit: BrowserLimit,
               sessions: SessionsDep, settings: SettingsDep, signer: SignerDep, store: StoreDep,
               content: ContentDep) -> dict[str, Any]:
    found = await _wheel(content, wheel)
    if not body.consent:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "consent: she must agree to marketing email before the wheel spins")
    try:
        email = one_mailbox(body.email)
    except EmailNotValidError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"email: {err}") from None
    customer = await act_for(customer_id, caller, sessions, settings, signer)
    key = person_key(email)  # one person, one spin, however she writes her address (me+1@, m.e@gmail)
    source = f"wheel:{wheel}"
    consent = ConsentRef(customer, "email", "marketing")
    async with sessions() as session:
        answered = await _answered(session, found, customer, key)
        # Double opt-in: a browser's box is a request until she confirms the address.
        pending = settings.double_opt_in and not caller.server and not await subscribed_already(
            session, consent, on_her_profile=await _on_her_profile(session, customer, email))
    if answered is not None:
        return answered

    visitor = anonymous_id_of(customer)  # her kind of id: a visitor's spin must not make her "known"
    who: dict[str, Any] = {"customer_id": customer, "user_id": None if visitor else customer,
                           "anonymous_id": visitor}

    def message(type_: str, name: str | None, **fields: Any) -> Call:
        return Call(type=type_, message_id=f"{source}:{customer}:{type_}:{name or ''}:{uuid.uuid4()}",
                       name=name, context={"library": {"name": "sojourn", "version": "wheel"}}, **who, **fields)

    spun = message("track", "Wheel Spun", properties={"wheel": wheel})
    messages = [
        message("identify", None, traits={"email": email}),
        message("track", "Email Confirmation Requested" if pending else "Newsletter Subscribed",
                properties={"source": source}),
        message("track", "Lead Captured", properties={"source": source}),
        spun,
    ]
    outcome: wheels.Outcome | None = None

    async def draw(session: AsyncSession) -> None:
        nonlocal outcome
        outcome = await wheels.spin(session, found, customer, key)
        if pending:
            await ask_to_confirm(session, consent, source, on_her_profile=False)
        else:
            await set_consent(session, consent, True, source)
        spun.properties.update({"slice": outcome.slice, "label": outcome.label, "won": outcome.coupon_code is not None,
                                "coupon": outcome.coupon_code,
                                "coupon_expires_at": outcome.coupon_expires_at.isoformat()
                                if outcome.coupon_expires_at else None})

    try:
        await store.accept(messages, prepare=draw)
    except IntegrityError:  # she (or this address) spun in the same instant: that spin stands
        async with sessions() as session:
            answered = await _answered(session, found, customer, key)
        if answered is None:
            raise
        return answered
    assert outcome is not None
    for reason in outcome.reasons:
        log.warning("wheel %r for %s: %s", wheel, customer, reason)
    return outcome.answer()


async def _on_her_profile(session: AsyncSession, customer: str, email: str) -> bool:
    her = await session.get(Customer, customer)
    return her is not None and her.email is not None and her.email.lower() == email.lower()


async def _answered(session: AsyncSession, wheel: wheels.Wheel, customer: str, key: str) -> dict[str, Any] | None:
    """Her earlier spin's outcome. An address that spun for someone else gets the answer
    a losing spin gets, recorded as this customer's spin (so her next try repeats it),
    and nothing else: no 409 that tells anyone whether an address has spun, and the
    address and its consent are not filed on the asker's profile."""
    prior = await wheels.earlier(session, wheel.name, customer, key)
    if prior is None:
        return None
    if prior.customer_id == customer:
        return wheels.Outcome.of(prior, repeat=True).answer()
    outcome = await wheels.no_prize(session, wheel, customer, key)
    await session.commit()
    return outcome.answer()
