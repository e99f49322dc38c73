"""A real SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import email
from email.message import Message
from email.policy import default as default_policy

from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.original_content or b"", policy=default_policy))
        self.arrived.set()
        return "250 2.0.0 OK queued"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in str(m["To"])]


async def start_smtp() -> tuple[asyncio.AbstractServer, Inbox, int]:
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(inbox, hostname="sojourn-test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, inbox, port
