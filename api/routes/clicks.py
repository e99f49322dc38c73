"""Tracked link clicks: verify the signed token, record "Message Clicked" as an event
(routed to journeys like any other, so a journey can wait for a click), redirect."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import RedirectResponse

from api.deps import SessionsDep, SignerDep, StoreDep
from sojourn.ground.calls import Call
from sojourn.links.tracking import read_click, run_of

router = APIRouter(tags=["tracking"])


@router.get("/v1/c/{token}", include_in_schema=False)
async def click(token: str, signer: SignerDep, store: StoreDep, sessions: SessionsDep) -> RedirectResponse:
    clicked = read_click(signer, token)
    if clicked is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this link is not valid")
    async with sessions() as session:  # the run it came from, and its variants
        run = await run_of(session, clicked.message_key)
    event = Call(
        type="track",
        message_id=f"click-{uuid.uuid4()}",
        customer_id=clicked.customer_id,
        user_id=clicked.customer_id,
        anonymous_id=None,
        name="Message Clicked",
        properties={"message_id": clicked.message_key, "journey": clicked.journey, "step": clicked.step,
                    "channel": clicked.channel, "url": clicked.url, **run},
        timestamp=datetime.now(UTC),
    )
    await store.accept([event])  # routed to journeys by the pipeline, like any event
    return RedirectResponse(clicked.url, status_code=status.HTTP_302_FOUND)
