"""A local Web Push inbox, for `make dev` and the tests: a push service and the
browsers behind it in one. It checks each push's VAPID JWT (RFC 8292), decrypts its
aes128gcm payload (RFC 8291) with the browser's keys, and keeps it: in memory for a
test, and as a JSON file under var/push/ for a newcomer to read.

In development, `POST /subscribe?customer=lisa` makes a browser for her and registers
its subscription with Sojourn (with the dev server key), so the README's cart gets
its push with no real browser. Development only: Sojourn reaches it because `make
dev` allows loopback outbound HTTP and this inbox's port, which nothing else does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import http_ece
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Browser:
    """One subscribed browser: its key pair and auth secret, as PushManager makes them."""

    name: str
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, base_url: str) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{base_url}/push/{self.name}",
            "expirationTime": None,
            "keys": {"p256dh": b64e(public), "auth": b64e(self.auth_secret)},
        }


@dataclass
class Delivery:
    browser: str
    payload: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]
    vapid_key: str


class PushReceiver:
    def __init__(self, directory: Path | None = None, sojourn_url: str | None = None,
                 server_key: str | None = None) -> None:
        self.directory = directory  # each delivery saved here as JSON, if set
        self.sojourn_url = sojourn_url  # where /subscribe registers a browser
        self.server_key = server_key
        self.browsers: dict[str, Browser] = {}
        self.deliveries: list[Delivery] = []
        self.rejections: list[str] = []
        self.answer: dict[str, int] = {}  # browser -> status to answer instead of 201
        self.retry_after = 7
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def browser(self, name: str) -> Browser:
        self.browsers[name] = Browser(name)
        return self.browsers[name]

    def to(self, name: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.browser == name]

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/push/{name}", self._receive)
        app.router.add_post("/subscribe", self._subscribe)
        app.router.add_get("/pushes", self._pushes)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def _subscribe(self, request: web.Request) -> web.Response:
        """A new browser for `customer`, registered with Sojourn as hers."""
        customer = request.query.get("customer", "")
        if not customer or not self.sojourn_url or not self.server_key:
            return web.json_response({"error": "?customer=<id> is required, and a Sojourn URL and server key"},
                                     status=400)
        browser = self.browser(f"{customer}-{len(self.browsers) + 1}"[:200].replace("/", "_"))
        subscription = browser.subscription(self.base_url)
        auth = {"Authorization": "Basic " + base64.b64encode(f"{self.server_key}:".encode()).decode()}
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.sojourn_url}/v1/customers/{customer}/push-subscriptions", json=subscription,
                headers=auth) as answer:
            if answer.status != 201:
                return web.json_response({"error": f"Sojourn answered {answer.status}: {await answer.text()}"},
                                         status=502)
        return web.json_response({"browser": browser.name, "subscription": subscription}, status=201)

    async def _pushes(self, _: web.Request) -> web.Response:
        return web.json_response([{"browser": d.browser, "payload": d.payload} for d in self.deliveries])

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def _reject(self, why: str) -> web.Response:
        self.rejections.append(why)
        return web.Response(status=401, text=why)

    async def _receive(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        browser = self.browsers.get(name)
        if browser is None:
            return web.Response(status=404)
        try:
            claims, key = self._verify_vapid(request.headers.get("Authorization", ""))
        except Exception as exc:  # noqa: BLE001 - any failure is a rejection
            return self._reject(f"VAPID: {exc}")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._reject("Content-Encoding must be aes128gcm")
        if "TTL" not in request.headers:
            return self._reject("TTL header is required")
        body = await request.read()
        plaintext = http_ece.decrypt(
            body, private_key=browser.private_key, auth_secret=browser.auth_secret, version="aes128gcm"
        )
        delivery = Delivery(name, json.loads(plaintext), {k.lower(): v for k, v in request.headers.items()}, claims, key)
        self.deliveries.append(delivery)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{len(self.deliveries):04d}-{name}.json"
            path.write_text(json.dumps({"browser": name, "payload": delivery.payload,
                                        "vapid": {"sub": claims.get("sub"), "aud": claims.get("aud")}}, indent=2))
        status = self.answer.get(name, 201)
        headers = {"Retry-After": str(self.retry_after)} if status == 429 else {}
        return web.Response(status=status, headers=headers)

    def _verify_vapid(self, header: str) -> tuple[dict[str, Any], str]:
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"expected 'vapid t=..., k=...', got {header[:30]!r}")
        params = dict(part.strip().split("=", 1) for part in rest.split(","))
        token, key = params["t"], params["k"]
        head_b64, claims_b64, sig_b64 = token.split(".")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
        sig = b64d(sig_b64)
        signature = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        public.verify(signature, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        if json.loads(b64d(head_b64)).get("alg") != "ES256":
            raise ValueError("alg must be ES256")
        claims = json.loads(b64d(claims_b64))
        if claims.get("aud") != self.base_url:
            raise ValueError(f"aud {claims.get('aud')!r} is not this push service")
        if not (time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600):
            raise ValueError("exp must be in the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError("sub must be a mailto: or https: URL")
        return claims, key


async def serve(port: int, directory: Path, sojourn_url: str, server_key: str) -> None:
    inbox = PushReceiver(directory, sojourn_url, server_key)
    await inbox.start(port)
    print(f"push inbox on {inbox.base_url}, saving to {directory}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await inbox.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sojourn.devtools.pushinbox", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--sojourn-url", required=True)
    parser.add_argument("--server-key", required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.dir, args.sojourn_url, args.server_key))


if __name__ == "__main__":
    main()
