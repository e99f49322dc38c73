"""`sojourn import FILE`: a shop's past, from a JSON Lines file of Segment calls (one
call per line, with its real `timestamp` and a `messageId`), sent to `POST /v1/import`
with a server key in batches under the API's 500 KB cap, with progress. Every event
there is history: it updates facts, segments and recommendations and starts no journey.
A rerun after a failure sends everything again and stores nothing twice (messageId)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BATCH_BYTES = 400_000  # under the API's 500 KB per request, with room for the envelope
BATCH_MESSAGES = 500

Post = Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]


class HistoryError(Exception):
    """A line that is not a call, or a batch the API refused: where, and why."""


@dataclass
class Imported:
    sent: int = 0
    stored: int = 0
    batches: int = 0


def calls(path: Path) -> Iterator[tuple[int, dict[str, Any], int]]:
    """(line number, call, its size in bytes) for each non-empty line."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                call = json.loads(line)
            except json.JSONDecodeError as err:
                raise HistoryError(f"line {number}: not JSON ({err.msg})") from None
            if not isinstance(call, dict):
                raise HistoryError(f"line {number}: a call is a JSON object")
            yield number, call, len(line.encode())


async def import_file(path: Path, post: Post, progress: Callable[[str], None] = print) -> Imported:
    done = Imported()
    batch: list[dict[str, Any]] = []
    first, size = 0, 0

    async def flush(last: int) -> None:
        nonlocal batch, size
        try:
            answer = await post(batch)
        except HistoryError as err:
            raise HistoryError(f"lines {first}-{last}: {err}") from None
        done.sent += len(batch)
        done.stored += int(answer.get("stored", 0))
        done.batches += 1
        progress(f"{done.sent} sent, {done.stored} new (through line {last})")
        batch, size = [], 0

    last = 0
    for number, call, length in calls(path):
        if batch and (size + length > BATCH_BYTES or len(batch) >= BATCH_MESSAGES):
            await flush(last)
        if not batch:
            first = number
        batch.append(call)
        size, last = size + length, number
    if batch:
        await flush(last)
    return done


def over_http(api: str, key: str) -> tuple[Post, Callable[[], Awaitable[None]]]:
    """A poster for the running API, and its closer."""
    import aiohttp

    session = aiohttp.ClientSession(auth=aiohttp.BasicAuth(key, ""))

    async def post(batch: list[dict[str, Any]]) -> dict[str, Any]:
        async with session.post(f"{api.rstrip('/')}/v1/import", json={"batch": batch},
                                allow_redirects=False) as response:
            body = await response.text()
            if response.status != 200:
                raise HistoryError(f"{response.status} {body[:500]}")
            answer: dict[str, Any] = json.loads(body)
            return answer

    return post, session.close
