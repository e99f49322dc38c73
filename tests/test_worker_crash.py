"""Idempotency when the worker process is killed mid-send: kill -9 the worker while
it is sending a batch of journeys' emails, start a new one, and count the messages
at the SMTP server: every customer gets her email, and exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from sojourn.models import Message
from sojourn.settings import Settings
from tests.conftest import open_api
from tests.support.smtp import Inbox, start_smtp

ROOT = Path(__file__).resolve().parent.parent
CUSTOMERS = 12


class GatedInbox(Inbox):
    """Accepts `first` messages, then holds every new transaction at MAIL FROM until
    released: the worker is killed with sends in flight, none of them half-accepted.
    (A kill between the server's 250 and the client reading it is SMTP's own window:
    no sender can close it; the stable Message-ID lets mailbox providers collapse it.)"""

    def __init__(self, first: int) -> None:
        super().__init__()
        self.first = first
        self.gate = asyncio.Event()
        self.held = 0

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        if len(self.messages) >= self.first and not self.gate.is_set():
            self.held += 1
            await self.gate.wait()
        envelope.mail_from = address
        return "250 OK"


def start_worker(settings: Settings, env: WorkflowEnvironment, smtp_port: int) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "SOJOURN_DATABASE_URL": settings.database_url,
        "SOJOURN_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "SOJOURN_TASK_QUEUE": settings.task_queue,
        "SOJOURN_SMTP_HOST": "127.0.0.1",
        "SOJOURN_SMTP_PORT": str(smtp_port),
        "SOJOURN_FREQUENCY_CAPS": "",
        "SOJOURN_PUBLIC_URL": settings.public_url,
    }
    return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_killing_the_worker_mid_send_sends_nothing_twice(env: WorkflowEnvironment, settings: Settings,
                                                                sessions: Any) -> None:
    gated = GatedInbox(first=3)
    server, inbox, port = await start_smtp(gated)
    fast = settings.model_copy(update={"time_scale": 24 * 3600.0})  # a day is a second
    run = uuid.uuid4().hex[:6]
    customers = [f"crash-{run}-{i}" for i in range(CUSTOMERS)]
    first = start_worker(fast, env, port)
    second = None
    try:
        async with open_api(fast, env.client) as api:
            for customer in customers:
                await api.post("/v1/identify", {"userId": customer, "traits": {"email": f"{customer}@mail.test"}})
                await api.track(customer, "Product Added", {"product_id": "lip-42", "name": "Velvet Lipstick"})
            for _ in range(300):  # until the worker is part-way through the emails, sends in flight
                if gated.held >= 1:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the accepted ones reach the ledger
            assert gated.held >= 1 and 3 <= len(inbox.messages) < CUSTOMERS
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            gated.gate.set()
            sent_before_restart = len(inbox.messages)

            second = start_worker(fast, env, port)
            # The ledger, not a query: right after the kill, queries wait for the dead
            # worker's sticky queue to time out.
            for _ in range(600):
                async with sessions() as session:
                    statuses = dict((await session.execute(
                        select(Message.customer_id, Message.status)
                        .where(Message.customer_id.in_(customers), Message.step == "email_24h"))).all())
                if list(statuses.values()).count("sent") == CUSTOMERS:
                    break
                await asyncio.sleep(0.1)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
        server.close()
    assert statuses == {c: "sent" for c in customers}
    per_customer = {c: len(inbox.to(c)) for c in customers}
    assert per_customer == {c: 1 for c in customers}, f"{sent_before_restart} sent before the restart"
