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
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.db import upsert
from sojourn.models import AppSecret
from sojourn.settings import Settings

SECRET_NAME = "vapid_private_key"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class VapidKeys:
    private_key: str  # base64url of the raw 32-byte P-256 scalar
    public_key: str  # base64url of the uncompressed point: the browser's applicationServerKey

    @classmethod
    def from_private(cls, private_key: str) -> "VapidKeys":
        vapid = Vapid.from_string(private_key=private_key)
        public = vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
        return cls(private_key=b64url(raw), public_key=b64url(public))

    @classmethod
    def generate(cls) -> "VapidKeys":
        vapid = Vapid()
        vapid.generate_keys()
        raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
        return cls.from_private(b64url(raw))

    def signer(self) -> Vapid:
        return Vapid.from_string(private_key=self.private_key)


async def load_vapid_keys(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> VapidKeys:
    if settings.vapid_private_key:
        return VapidKeys.from_private(settings.vapid_private_key)
    async with sessions() as session:
        stored = await session.scalar(select(AppSecret.value).where(AppSecret.name == SECRET_NAME))
        if stored is None:
            # Two processes may race here on first run; the insert that loses is a no-op
            # and both read back the winner's key.
            fresh = VapidKeys.generate()
            await session.execute(
                upsert(session, AppSecret)
                .values(name=SECRET_NAME, value=fresh.private_key)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            await session.commit()
            stored = await session.scalar(select(AppSecret.value).where(AppSecret.name == SECRET_NAME))
    assert stored is not None
    return VapidKeys.from_private(stored)
