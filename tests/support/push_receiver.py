"""A real Web Push receiver: it checks the VAPID JWT (RFC 8292) and decrypts the
aes128gcm payload (RFC 8291) with the browser-side keys, as a push service and a
browser would between them."""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

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
    def __init__(self) -> None:
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

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push/{name}", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

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
        self.deliveries.append(
            Delivery(name, json.loads(plaintext), {k.lower(): v for k, v in request.headers.items()}, claims, key)
        )
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
