"""The codec endpoint: the Temporal UI (Settings > Codec Server) and the CLI
(`--codec-endpoint`) send it the payloads of a history and show what it answers. It
decodes with the payload keys (sojourn/ground/codec.py), for an operator only: the
operator key as a Bearer token (`temporal workflow show --codec-auth "Bearer <key>"`),
or the browser's sign-in to the dashboard (Basic, the operator key as the password),
which the UI sends with "Include cross-origin credentials" from an origin in
SOJOURN_TEMPORAL_UI_ORIGINS (api/cors.py)."""

from __future__ import annotations

import binascii
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from temporalio.api.common.v1 import Payload

from api.deps import OperatorSignIn, SettingsDep
from sojourn.ground.codec import CodecKeyError, codec_of

router = APIRouter(prefix="/v1/temporal/codec", tags=["operators"])


async def _payloads(request: Request) -> list[Payload]:
    try:
        body = await request.json()
        return [ParseDict(p, Payload()) for p in body["payloads"]]
    except (ValueError, KeyError, TypeError, ParseError, binascii.Error):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, 'the body must be {"payloads": [...]}, as Temporal '
                                                         "sends it") from None


def _answer(payloads: list[Payload]) -> dict[str, Any]:
    return {"payloads": [MessageToDict(p) for p in payloads]}


@router.post("/decode")
async def decode(request: Request, _key: OperatorSignIn, settings: SettingsDep) -> dict[str, Any]:
    codec = codec_of(settings.payload_keys)
    payloads = await _payloads(request)
    if codec is None:
        return _answer(payloads)
    try:
        return _answer(await codec.decode(payloads))
    except CodecKeyError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    except Exception:  # noqa: BLE001 - a tampered payload: say so, never a 500
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "a payload could not be decrypted") from None


@router.post("/encode")
async def encode(request: Request, _key: OperatorSignIn, settings: SettingsDep) -> dict[str, Any]:
    codec = codec_of(settings.payload_keys)
    payloads = await _payloads(request)
    return _answer(await codec.encode(payloads) if codec else payloads)


