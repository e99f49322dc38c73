"""A real SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import email
import re
from email.message import Message
from email.policy import default as default_policy
from email.utils import getaddresses

from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.raw: list[bytes] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.raw.append(envelope.original_content or b"")
        self.messages.append(email.message_from_bytes(envelope.original_content or b"", policy=default_policy))
        self.arrived.set()
        return "250 2.0.0 OK queued"

    def to(self, who: str) -> list[Message]:
        """Messages to an address, or to a customer id's address (`<id>@...`)."""
        def matches(message: Message) -> bool:
            return any(addr == who or addr.split("@")[0] == who for _, addr in getaddresses([str(message["To"])]))

        return [m for m in self.messages if matches(m)]

    async def arrival(self, who: str, subject: str, timeout: float = 15.0) -> Message:
        """The one message to `who` with this subject, once it has come."""
        for _ in range(int(timeout / 0.05)):
            found = [m for m in self.to(who) if m["Subject"] == subject]
            if found:
                [message] = found
                return message
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {subject!r} for {who}: {[m['Subject'] for m in self.to(who)]}")


def confirm_link(mail: Message) -> str:
    """The double opt-in link in a confirmation email (its path), the same in both
    parts and never a tracked redirect."""
    html, text = mail.get_body(("html",)).get_content(), mail.get_body(("plain",)).get_content()
    [link] = set(re.findall(r'href="(https://sojourn\.test/v1/confirm/[^"]+)"', html))
    assert link in text and "/v1/c/" not in html, "her link to her choice is not a tracked redirect"
    return link.removeprefix("https://sojourn.test")


class CountingInbox(Inbox):
    """Counts the SMTP sessions (EHLO/HELO) it was opened for."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions = 0

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses


class FlakyInbox(Inbox):
    """Answers 451 (try again later) to the first `failures` messages, then accepts."""

    def __init__(self, failures: int = 1) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.attempts += 1
        if self.attempts <= self.failures:
            return "451 4.3.0 Mailbox busy, try again later"
        return await super().handle_DATA(server, session, envelope)


class BouncingInbox(Inbox):
    """Refuses every recipient for good."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        self.refused += 1
        return "550 5.1.1 No such user here"


async def start_smtp(inbox: Inbox | None = None, idle_timeout: float = 300) -> tuple[asyncio.AbstractServer, Inbox, int]:
    inbox = inbox or Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(inbox, hostname="sojourn-test", timeout=idle_timeout),
                                      "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, inbox, port
