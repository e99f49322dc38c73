"""The marketer's content (sojourn/content/store.py), with the marketer key (or an
operator's): list it, read a version, keep a draft, preview it with a sample customer
(her real profile or a scripted one), send a test to an address, publish (after the
checks in activities/previews.py pass), and roll back to an earlier version. Every
change takes effect from the next send, in every worker, without a restart."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import aiosmtplib
from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from activities import previews
from api.deps import ContentDep, MarketerKey, SessionsDep, SettingsDep
from api.limits import TestSendLimit
from sojourn.analytics.content import by_version
from sojourn.content import store
from sojourn.content.store import ContentError, checked_parts
from sojourn.ground.addresses import EmailNotValidError, one_mailbox
from sojourn.ground.models import ContentVersion, Customer, aware

router = APIRouter(prefix="/v1/content", tags=["content"])
# The changes, also under the dashboard's editor pages (/dashboard/content/{kind}/{name}/...),
# where the browser sends its sign-in without asking again (api/routes/__init__.py).
changes = APIRouter(tags=["content"])
Kind = Literal["email", "push", "onsite", "wheels"]
Name = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,100}$", description="as in templates/: `cart_abandonment`")]


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parts: dict[str, str] = Field(description="the content's parts: email `subject`, `html`, `text`; others `json`")


class SampleIn(BaseModel):
    """Whom a preview or a test shows it to, and what a journey would pass."""

    model_config = ConfigDict(extra="forbid")
    parts: dict[str, str] | None = Field(default=None, description="these parts; else the draft, else the live version")
    version: int | None = Field(default=None, ge=1, description="a stored version instead")
    customer_id: str | None = Field(default=None, max_length=255, description="her real profile")
    customer: dict[str, str | int | float | bool | None] | None = Field(
        default=None, description="a scripted customer: first_name, email and any trait")
    data: dict[str, Any] | None = Field(default=None, description="what the journey passes (items, coupon, variant)")


class TestIn(SampleIn):
    to: str = Field(max_length=320, description="the address the test goes to")


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parts: dict[str, str] | None = Field(default=None, description="these parts; else the draft")
    note: str | None = Field(default=None, max_length=500, description="what changed, for the history")


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=2**31 - 1, description="the version to make live again")


async def _known(sessions: Any, name: str) -> int:
    """Its live version; 404 if no journey's content has that name."""
    async with sessions() as session:
        live = await store.live_version(session, name)
    if live is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no content {name!r}")
    return live


def _parts(name: str, parts: Any, live: dict[str, str]) -> dict[str, str]:
    try:
        return checked_parts(name, parts, set(live) if store.is_partial(name) else None)
    except ContentError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


def _refused(message: str, problems: list[previews.Problem]) -> HTTPException:
    first = problems[0]
    where = f"{first.part}" + (f" line {first.line}" if first.line else "")
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {
        "message": f"{message}: {where}: {first.reason}", "problems": [p.describe() for p in problems]})


@router.get("")
async def list_content(_role: MarketerKey, content: ContentDep, sessions: SessionsDep) -> dict[str, Any]:
    await content.ready()
    async with sessions() as session:
        return {"content": await store.catalogue(session)}


@router.get("/{kind}/{name}")
async def one(kind: Kind, name: Name, _role: MarketerKey, content: ContentDep, sessions: SessionsDep) -> dict[str, Any]:
    """Its live version's parts, its draft, its versions and publications, and each
    version's sends and clicks."""
    await content.ready()
    full = f"{kind}/{name}"
    live = await _known(sessions, full)
    async with sessions() as session:
        current = await store.version_of(session, full, live)
        draft = await store.draft_of(session, full)
        found = await store.history(session, full)
        stats = await by_version(session, full)
    return {
        "name": full, "kind": kind, "partial": store.is_partial(full),
        "live": {"version": live, "parts": current.parts if current else {}},
        "draft": None if draft is None else {"parts": draft.parts, "based_on": draft.based_on,
                                             "updated_by": draft.updated_by,
                                             "updated_at": aware(draft.updated_at).isoformat()},
        **found, "stats": stats,
    }


@router.get("/{kind}/{name}/versions/{version}")
async def one_version(kind: Kind, name: Name, version: Annotated[int, Path(ge=1, le=2**31 - 1)], _role: MarketerKey,
                      sessions: SessionsDep) -> dict[str, Any]:
    async with sessions() as session:
        found = await store.version_of(session, f"{kind}/{name}", version)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no version {version} of {kind}/{name}")
    return {"name": found.name, "version": found.version, "parts": found.parts, "note": found.note,
            "created_by": found.created_by, "created_at": aware(found.created_at).isoformat()}


@changes.put("/{kind}/{name}/draft")
async def put_draft(kind: Kind, name: Name, body: DraftIn, role: MarketerKey, content: ContentDep,
                    sessions: SessionsDep, settings: SettingsDep) -> dict[str, Any]:
    """Keep the draft (it need not pass the checks yet; they are answered as `problems`)."""
    await content.ready()
    full = f"{kind}/{name}"
    await _known(sessions, full)
    live = await content.snapshot()
    parts = _parts(full, body.parts, live.items.get(full, {}))
    async with sessions() as session:
        draft = await store.save_draft(session, full, parts, role)
        await session.commit()
        first = await store.version_of(session, full, 1)
    problems = previews.check(settings, live, full, parts, first.parts if first else None)
    return {"name": full, "based_on": draft.based_on, "parts": parts, "problems": [p.describe() for p in problems]}


@changes.delete("/{kind}/{name}/draft", status_code=status.HTTP_204_NO_CONTENT)
async def delete_draft(kind: Kind, name: Name, _role: MarketerKey, sessions: SessionsDep) -> None:
    async with sessions() as session:
        gone = await store.discard_draft(session, f"{kind}/{name}")
        await session.commit()
    if not gone:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no draft of {kind}/{name}")


async def _sample(full: str, body: SampleIn, content: Any, sessions: Any, settings: Any) -> dict[str, Any]:
    """What `body` asks to see: parts (given, the draft's, a version's or the live ones),
    rendered for its customer; 422 with the part, line and reason if it can't render."""
    live = await content.snapshot()
    if full not in live.items:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no content {full!r}")
    async with sessions() as session:
        if body.parts is not None:
            parts = _parts(full, body.parts, live.items[full])
        elif body.version is not None:
            stored = await session.get(ContentVersion, (full, body.version))
            if stored is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no version {body.version} of {full}")
            parts = dict(stored.parts)
        else:
            draft = await store.draft_of(session, full)
            parts = dict(draft.parts) if draft is not None else live.items[full]
        customer: dict[str, Any] = dict(body.customer or {})
        if body.customer_id is not None:
            her = await session.get(Customer, body.customer_id)
            if her is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {body.customer_id!r}")
            # Her profile as her messages show it: the preview's sample, never more.
            customer = {**dict(her.traits or {}), "id": her.id, "email": her.email,
                        "first_name": her.first_name or (her.traits or {}).get("first_name")}
    context = previews.context_for(settings, customer, body.data)
    try:
        return previews.render(previews.with_candidate(live, full, parts), full, context)
    except Exception as exc:  # any failure of the marketer's template is hers to see, never a 500
        raise _refused("it does not render", [previews.problem_of(exc, full)]) from None


@changes.post("/{kind}/{name}/preview")
async def preview(kind: Kind, name: Name, body: SampleIn, _role: MarketerKey, content: ContentDep,
                  sessions: SessionsDep, settings: SettingsDep) -> dict[str, Any]:
    """What it shows, rendered as a send would (links not yet tracked)."""
    return {"name": f"{kind}/{name}", "rendered": await _sample(f"{kind}/{name}", body, content, sessions, settings)}


@changes.post("/{kind}/{name}/test", status_code=status.HTTP_202_ACCEPTED)
async def send_test(kind: Kind, name: Name, body: TestIn, _role: MarketerKey, _limit: TestSendLimit, content: ContentDep,
                    sessions: SessionsDep, settings: SettingsDep) -> dict[str, Any]:
    """An email's test, to one address, its subject marked "[Test]"."""
    if kind != "email" or name.startswith("_"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a test send is for an email (not a partial)")
    try:
        to = one_mailbox(body.to)
    except EmailNotValidError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"to: {exc}") from None
    shown = await _sample(f"email/{name}", body, content, sessions, settings)
    try:
        reply = await previews.send_test(settings, f"email/{name}", shown, to)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"the mail server refused the test: {exc}") from None
    return {"sent_to": to, "reply": reply}


@changes.post("/{kind}/{name}/publish", status_code=status.HTTP_201_CREATED)
async def publish(kind: Kind, name: Name, body: PublishIn, role: MarketerKey, content: ContentDep,
                  sessions: SessionsDep, settings: SettingsDep) -> dict[str, Any]:
    """The draft (or `parts`) as the next version, live from the next send; refused
    with the part, line and reason if it fails the checks, and the live one stays."""
    await content.ready()
    full = f"{kind}/{name}"
    await _known(sessions, full)
    live = await content.snapshot()
    async with sessions() as session:
        if body.parts is not None:
            parts = _parts(full, body.parts, live.items.get(full, {}))
        else:
            draft = await store.draft_of(session, full)
            if draft is None:
                raise HTTPException(status.HTTP_409_CONFLICT, f"{full} has no draft to publish: save one, or send parts")
            parts = dict(draft.parts)
        first = await store.version_of(session, full, 1)
        problems = previews.check(settings, live, full, parts, first.parts if first else None)
        if problems:
            raise _refused("not published", problems)
        try:
            version = await store.publish(session, full, parts, role, body.note)
            await session.commit()
        except IntegrityError:
            raise HTTPException(status.HTTP_409_CONFLICT, f"{full} was published by someone else meanwhile: "
                                                          "look at its new version and try again") from None
        revision = await store.revision_in(session)
    return {"name": full, "version": version, "revision": revision}


@changes.post("/{kind}/{name}/rollback")
async def rollback(kind: Kind, name: Name, body: RollbackIn, role: MarketerKey, content: ContentDep,
                   sessions: SessionsDep) -> dict[str, Any]:
    """An earlier version live again, from the next send on."""
    await content.ready()
    full = f"{kind}/{name}"
    await _known(sessions, full)
    async with sessions() as session:
        if await store.version_of(session, full, body.version) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no version {body.version} of {full}")
        await store.rollback(session, full, body.version, role)
        await session.commit()
        revision = await store.revision_in(session)
    return {"name": full, "version": body.version, "revision": revision}
