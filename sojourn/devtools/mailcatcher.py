"""A local SMTP catcher for `make dev`: every mail lands as a .eml file under var/mail/."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("sojourn.devtools.mailcatcher")


class SaveToDirectory:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count += 1
        path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.count:04d}.eml"
        path.write_bytes(envelope.original_content or b"")
        log.info("mail for %s saved to %s", ", ".join(envelope.rcpt_tos), path)
        return "250 2.0.0 OK saved"


async def serve(host: str, port: int, directory: Path) -> None:
    loop = asyncio.get_running_loop()
    handler = SaveToDirectory(directory)
    server = await loop.create_server(lambda: SMTP(handler, hostname="sojourn-mailcatcher"), host, port)
    log.info("SMTP catcher on %s:%s, saving to %s", host, port, directory)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
