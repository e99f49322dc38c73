"""Segment-compatible ingestion: /v1/track, /identify, /page, /screen, /group, /alias, /batch.

A call is answered once its messages are committed (one transaction); routing to the
journeys happens after, from what was stored, whether or not Temporal is up.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import StoreDep, WriteKey
from api.segment import parse_batch, parse_message, read_body

router = APIRouter(prefix="/v1", tags=["tracking"])

SUCCESS = {"success": True}


async def _body(request: Request) -> Any:
    return await read_body(
        request.stream(), request.headers.get("content-encoding"), request.headers.get("content-length")
    )


def _single(kind: str):  # noqa: ANN202 - a route factory
    async def endpoint(request: Request, _key: WriteKey, store: StoreDep) -> dict[str, bool]:
        await store.accept([parse_message(await _body(request), type_=kind)])
        return SUCCESS

    endpoint.__name__ = kind
    return endpoint


for _kind in ("track", "identify", "page", "screen", "group", "alias"):
    router.add_api_route(f"/{_kind}", _single(_kind), methods=["POST"], summary=f"Segment {_kind} call")


@router.post("/batch", summary="Segment batch call")
async def batch(request: Request, _key: WriteKey, store: StoreDep) -> dict[str, bool]:
    await store.accept(parse_batch(await _body(request)))
    return SUCCESS
