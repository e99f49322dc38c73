"""Where a running run is now, when its step is not a search attribute (settings'
searchable_steps off, the default): each run is asked through its `state` query,
which costs no action on a self-hosted server and one per run asked in Temporal Cloud,
per page view; a searchable step costs one per wait of every run instead."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client

# At most this many runs asked at once, this many in all, each within this many seconds.
ASKED, MAX_ASKED, QUERY_SECONDS = 8, 50, 3.0


async def ask(temporal: Client, workflow_ids: list[str]) -> dict[str, dict[str, Any]]:
    """{workflow id: {"step", "wakes_at"}} for the runs that answered; a run that can't
    (no worker, busy, gone) is left out."""
    found: dict[str, dict[str, Any]] = {}
    asked = asyncio.Semaphore(ASKED)

    async def one(workflow_id: str) -> None:
        async with asked, asyncio.timeout(QUERY_SECONDS):  # each its own time, not its wait in line
            state = await temporal.get_workflow_handle(workflow_id).query("state")
        if isinstance(state, dict):
            found[workflow_id] = {"step": state.get("step"), "wakes_at": state.get("next_wake_up")}

    await asyncio.gather(*(one(w) for w in workflow_ids[:MAX_ASKED]), return_exceptions=True)
    return found
