"""The email open pixel (SOJOURN_EMAIL_OPEN_PIXEL): a signed 1x1 GIF whose fetch records
"Email Opened". Mail clients and proxies fetch images for reasons of their own, so
each open says whether it was a machine's (sojourn/intelligence/engagement.py); a
machine open is kept for the record and never counts as her engagement."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from api.deps import SignerDep, StoreDep
from sojourn.ground.calls import Call
from sojourn.intelligence.engagement import machine_open
from sojourn.links.tracking import read_open

router = APIRouter(tags=["tracking"])

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@router.get("/v1/o/{token}", include_in_schema=False)
async def opened(token: str, request: Request, signer: SignerDep, store: StoreDep) -> Response:
    found = read_open(signer, token)
    if found is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this image is not valid")
    agent = request.headers.get("user-agent")
    machine = machine_open(agent, time.time() - found.sent_at)
    event = Call(
        type="track", message_id=f"open-{uuid.uuid4()}", customer_id=found.customer_id, user_id=found.customer_id,
        anonymous_id=None, name="Email Opened", timestamp=datetime.now(UTC),
        properties={"message_id": found.message_key, "journey": found.journey, "step": found.step,
                    "channel": "email", "machine": machine is not None, "machine_reason": machine},
        context={"library": {"name": "sojourn", "version": "open-pixel"}, "userAgent": (agent or "")[:512]},
    )
    await store.accept([event])
    return Response(GIF, media_type="image/gif", headers={"Cache-Control": "no-store, max-age=0"})
