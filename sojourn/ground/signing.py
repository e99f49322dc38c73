"""HMAC-signed tokens for links: a token names what it stands for and cannot be
forged or altered without the secret (SOJOURN_SECRET_KEY, or one generated on first
run and kept in the database)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.ground.secrets import load_or_create
from sojourn.ground.settings import Settings


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def customer_token(user_id: str, secret: str) -> str:
    """A customer token: what the shop's backend puts in the page for the signed-in
    shopper (hex HMAC-SHA256 of her user id with SOJOURN_IDENTITY_SECRET), as in
    Intercom's identity verification. api/proof.py checks it."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


class Signer:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:16])

    def sign(self, value: str) -> str:
        payload = _b64(value.encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str) -> str | None:
        """The signed value, or None for a tampered or malformed token."""
        payload, _, mac = token.partition(".")
        # Compared as bytes: compare_digest raises TypeError on a str that is not
        # ASCII, and a link's token is whatever the person (or a scanner) typed.
        if not payload or not mac or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        try:
            return _unb64(payload).decode()
        except (ValueError, UnicodeDecodeError):
            return None


async def load_signer(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Signer:
    if settings.secret_key:
        return Signer(settings.secret_key)
    return Signer(await load_or_create(sessions, "signing_key", lambda: secrets.token_urlsafe(32)))
