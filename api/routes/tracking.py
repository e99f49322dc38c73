"""Segment-compatible ingestion: /v1/track, /identify, /page, /screen, /group, /alias, /batch,
and the short paths analytics.js (@segment/analytics-next) posts to from a browser:
/v1/t, /p, /i, /s, /g, /a (the type's first letter) and /v1/b (its batches).

A call is answered once its messages are committed (one transaction); routing to the
journeys happens after, from what was stored, whether or not Temporal is up.

The write key comes as the Basic-auth username or, as analytics.js sends it, as
`writeKey` in the body (a `text/plain` JSON body: the content type is not read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.calls import as_received, parse_batch, parse_message, read_body
from api.deps import HeaderWriteKey, SessionsDep, SettingsDep, SignerDep, StoreDep, valid_write_key
from api.proof import body_caller, check_messages
from sojourn.ground.calls import Call
from sojourn.ground.settings import Settings
from sojourn.ground.signing import Signer
from sojourn.pipeline.store import Store

router = APIRouter(prefix="/v1", tags=["tracking"])

SUCCESS = {"success": True}


async def _body(request: Request, key: str | None, settings: Settings) -> Any:
    body = await read_body(
        request.stream(), request.headers.get("content-encoding"), request.headers.get("content-length")
    )
    if key is None:  # no Authorization header: the body must name a write key
        valid_write_key(body.get("writeKey") if isinstance(body, dict) else None, settings)
    return body


async def _accept(request: Request, key: str | None, settings: Settings, store: Store, sessions: async_sessionmaker[AsyncSession],
                  signer: Signer, parse: Callable[[Any], list[Call]]) -> dict[str, bool]:
    body = await _body(request, key, settings)
    messages = parse(body)
    caller = body_caller(request, settings, key, body)
    # A public write key appends; linking ids or setting her email needs proof (api/proof.py).
    await check_messages(messages, caller, sessions, settings, signer)
    if not caller.server:
        as_received(messages)
    await store.accept(messages)
    return SUCCESS


def _single(kind: str):  # noqa: ANN202 - a route factory
    async def endpoint(request: Request, key: HeaderWriteKey, settings: SettingsDep, store: StoreDep,
                       sessions: SessionsDep, signer: SignerDep) -> dict[str, bool]:
        return await _accept(request, key, settings, store, sessions, signer,
                             lambda body: [parse_message(body, type_=kind)])

    endpoint.__name__ = kind
    return endpoint


for _kind in ("track", "identify", "page", "screen", "group", "alias"):
    router.add_api_route(f"/{_kind}", _single(_kind), methods=["POST"], summary=f"Segment {_kind} call")
    router.add_api_route(f"/{_kind[0]}", _single(_kind), methods=["POST"], include_in_schema=False)


async def batch(request: Request, key: HeaderWriteKey, settings: SettingsDep, store: StoreDep,
                sessions: SessionsDep, signer: SignerDep) -> dict[str, bool]:
    return await _accept(request, key, settings, store, sessions, signer, parse_batch)


router.add_api_route("/batch", batch, methods=["POST"], summary="Segment batch call")
router.add_api_route("/b", batch, methods=["POST"], include_in_schema=False)


@router.post("/import", summary="The shop's past events, as a Segment batch")
async def import_history(request: Request, key: HeaderWriteKey, settings: SettingsDep, store: StoreDep,
                         sessions: SessionsDep, signer: SignerDep) -> dict[str, Any]:
    """A shop moving to Sojourn sends its past (orders, views, sign-ups, with their real
    timestamps) so that facts, segments, recommendations and KPIs start right. Server
    key only. Every event here is history whatever its age: it starts and wakes no
    journey. Idempotent by messageId: a rerun of an import stores nothing twice."""
    body = await _body(request, key, settings)
    caller = body_caller(request, settings, key, body)
    if not caller.server:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "importing history needs a server key")
    messages = parse_batch(body)
    await check_messages(messages, caller, sessions, settings, signer)  # the server's rights, as on /v1/batch
    for m in messages:
        m.history = True
    new = await store.accept(messages)
    return {**SUCCESS, "received": len(messages), "stored": len(new)}
