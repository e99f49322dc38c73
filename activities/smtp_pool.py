"""A small pool of SMTP connections per worker: one TLS handshake and AUTH for many
messages instead of one per message. A connection the server closed while idle is
replaced transparently; one that saw a refused message is reset and kept."""

from __future__ import annotations

import asyncio
import email.policy
from collections.abc import Awaitable, Callable
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

import aiosmtplib

from sojourn.ground.settings import Settings


class HeaderClasses(HeaderRegistry):
    """The standard library's registry, making each header's class once. Its own
    makes a new class (`type(...)`) for every header it parses: about 10 µs and a
    reference cycle each, some 35 per email, which kept the garbage collector's
    full passes coming (bench/sending.py)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


HEADER_CLASSES = HeaderClasses()
# What a message is built with: the standard policy, with the classes made once.
BUILD_POLICY = email.policy.default.clone(header_factory=HEADER_CLASSES)
# RFC 5322 allows 998 characters a line. At the default 78, a header holding one long
# token (List-Unsubscribe's signed URL) would be turned into an RFC 2047 encoded-word,
# which RFC 2369 forbids inside its angle brackets and one-click clients can't read.
WIRE_POLICY = email.policy.SMTP.clone(max_line_length=998, header_factory=HEADER_CLASSES)


def wire_format(message: EmailMessage) -> tuple[str, list[str], bytes]:
    sender = parseaddr(str(message["From"]))[1]
    recipients = [addr for _, addr in getaddresses([str(v) for v in message.get_all("To", [])])]
    return sender, recipients, message.as_bytes(policy=WIRE_POLICY)


class SmtpPool:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(max(1, settings.smtp_pool_size))
        self.connections_opened = 0

    async def _connect(self) -> aiosmtplib.SMTP:
        host, port = self.settings.smtp_target
        client = aiosmtplib.SMTP(
            hostname=host,
            port=port,
            username=self.settings.smtp_username,
            password=self.settings.smtp_password,
            use_tls=self.settings.smtp_security == "tls",
            start_tls=True if self.settings.smtp_security == "starttls" else False,
            timeout=self.settings.smtp_timeout_seconds,
        )
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        self.connections_opened += 1
        return client

    async def send(self, message: EmailMessage, before_data: Callable[[], Awaitable[None]] | None = None) -> str:
        """Send one message; returns the server's reply. Raises aiosmtplib errors.

        `before_data` runs once the envelope is accepted, just before DATA: the point
        of no return, after which a lost connection leaves the outcome unknown. Raised
        errors carry `past_data`: whether that point was passed."""
        sender, recipients, raw = wire_format(message)
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            pooled = client is not None
            while True:
                if client is None or not client.is_connected:
                    client, pooled = await self._connect(), False
                past_data = False
                try:
                    await client.mail(sender)
                    for recipient in recipients:
                        await client.rcpt(recipient)
                    if before_data is not None:
                        await before_data()
                    past_data = True
                    reply = (await client.data(raw)).message
                except aiosmtplib.SMTPServerDisconnected as exc:
                    client.close()
                    client = None
                    if pooled and not past_data:
                        continue  # the server dropped an idle connection: once more on a fresh one
                    exc.past_data = past_data  # type: ignore[attr-defined]
                    raise
                except aiosmtplib.SMTPResponseException:
                    await self._keep_or_close(client)  # a reply: the server decided, nothing is unknown
                    raise
                except BaseException as exc:
                    client.close()
                    if isinstance(exc, Exception):
                        exc.past_data = past_data  # type: ignore[attr-defined]
                    raise
                self._idle.append(client)
                return reply

    async def _keep_or_close(self, client: aiosmtplib.SMTP) -> None:
        try:
            await client.rset()
            self._idle.append(client)
        except aiosmtplib.SMTPException:
            client.close()

    async def aclose(self) -> None:
        while self._idle:
            client = self._idle.pop()
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                client.close()
