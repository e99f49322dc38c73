"""HMAC-signed tokens for links: a token names what it stands for and cannot be
forged or altered without the secret (SOJOURN_SECRET_KEY, or one generated on first
run and kept in the database)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sojourn.ground.secrets import load_or_create
from sojourn.ground.settings import Settings


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


CUSTOMER_TOKEN_SECONDS = 24 * 3600  # what customer_token() gives when not told


def _customer_mac(secret: str, expires: int, user_id: str) -> str:
    return hmac.new(secret.encode(), f"v1.{expires}.{user_id}".encode(), hashlib.sha256).hexdigest()


def customer_token(user_id: str, secret: str, *, expires: int | None = None) -> str:
    """A customer token: what the shop's backend puts in the page for the signed-in
    shopper, as in Intercom's identity verification; api/proof.py checks it.

        v1.<expires>.<hex HMAC-SHA256(SOJOURN_IDENTITY_SECRET, "v1.<expires>.<user id>")>

    `expires`: Unix seconds (now + a day unless told). A leaked token dies at its
    expiry, without rotating the secret for everyone."""
    when = int(time.time()) + CUSTOMER_TOKEN_SECONDS if expires is None else expires
    return f"v1.{when}.{_customer_mac(secret, when, user_id)}"


def legacy_customer_token(user_id: str, secret: str) -> str:
    """The first format, hex HMAC-SHA256 of the user id alone: it never expires, so it
    is accepted only while SOJOURN_LEGACY_CUSTOMER_TOKENS allows it."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify_customer_token(token: str, user_id: str, secret: str, *, max_seconds: int, legacy: bool,
                          now: float | None = None) -> bool:
    """Signed for `user_id`, not expired, and not valid for longer than `max_seconds`
    from now (a token that never expires in practice is refused too)."""
    clock = time.time() if now is None else now
    version, _, rest = token.partition(".")
    if version == "v1":
        expires, _, mac = rest.partition(".")
        if not expires.isdigit() or len(expires) > 12 or not mac:
            return False
        when = int(expires)
        return (clock < when <= clock + max_seconds
                and hmac.compare_digest(mac.encode(), _customer_mac(secret, when, user_id).encode()))
    return legacy and hmac.compare_digest(token.encode(), legacy_customer_token(user_id, secret).encode())


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
