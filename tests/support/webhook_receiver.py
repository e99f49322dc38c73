"""A real webhook receiver: checks the HMAC-SHA256 signature and records deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Hook:
    idempotency_key: str
    body: dict[str, Any]
    signature_ok: bool


@dataclass
class WebhookReceiver:
    secret: str
    answers: list[int] = field(default_factory=list)  # statuses to answer, in order; then 200
    received: list[Hook] = field(default_factory=list)
    url: str = ""
    redirect_to: str | None = None  # the Location of a 30x answer
    _runner: web.AppRunner | None = None

    def verify(self, header: str, body: bytes) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        expected = hmac.new(self.secret.encode(), f"{parts.get('t', '')}.".encode() + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Hook(request.headers.get("Idempotency-Key", ""), json.loads(body),
                                  self.verify(request.headers.get("X-Sojourn-Signature", ""), body)))
        status = self.answers.pop(0) if self.answers else 200
        headers = {"Location": self.redirect_to} if self.redirect_to and 300 <= status < 400 else {}
        return web.Response(status=status, text="ok" if status < 300 else "nope", headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
