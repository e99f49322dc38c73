"""Segment-compatible ingestion: /v1/track, /identify, /page, /screen, /group, /alias, /batch."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import IngestorDep, WriteKey
from api.segment import parse_batch, parse_message, read_body

router = APIRouter(prefix="/v1", tags=["tracking"])

SUCCESS = {"success": True}


async def _body(request: Request) -> object:
    return read_body(await request.body(), request.headers.get("content-encoding"))


def _single(kind: str):  # noqa: ANN202 - a route factory
    async def endpoint(request: Request, _key: WriteKey, ingestor: IngestorDep) -> dict[str, bool]:
        await ingestor.accept([parse_message(await _body(request), type_=kind)])
        return SUCCESS

    endpoint.__name__ = kind
    return endpoint


for _kind in ("track", "identify", "page", "screen", "group", "alias"):
    router.add_api_route(f"/{_kind}", _single(_kind), methods=["POST"], summary=f"Segment {_kind} call")


@router.post("/batch", summary="Segment batch call")
async def batch(request: Request, _key: WriteKey, ingestor: IngestorDep) -> dict[str, bool]:
    await ingestor.accept(parse_batch(await _body(request)))
    return SUCCESS
