"""The VAPID key pair for web push.

From `SOJOURN_VAPID_PRIVATE_KEY` when set; otherwise generated on first use and kept
in the database, so the API (which hands browsers the public key) and every worker
(which signs with the private key) agree without sharing a file.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.ground.secrets import load_or_create
from sojourn.ground.settings import Settings

SECRET_NAME = "vapid_private_key"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class VapidKeys:
    private_key: str  # base64url of the raw 32-byte P-256 scalar
    public_key: str  # base64url of the uncompressed point: the browser's applicationServerKey

    @classmethod
    def from_private(cls, private_key: str) -> VapidKeys:
        vapid = Vapid.from_string(private_key=private_key)
        public = vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
        return cls(private_key=b64url(raw), public_key=b64url(public))

    @classmethod
    def generate(cls) -> VapidKeys:
        vapid = Vapid()
        vapid.generate_keys()
        raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
        return cls.from_private(b64url(raw))

    def signer(self) -> Vapid:
        return Vapid.from_string(private_key=self.private_key)


async def load_vapid_keys(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> VapidKeys:
    if settings.vapid_private_key:
        return VapidKeys.from_private(settings.vapid_private_key)
    return VapidKeys.from_private(await load_or_create(sessions, SECRET_NAME, lambda: VapidKeys.generate().private_key))
