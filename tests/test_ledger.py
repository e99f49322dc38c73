"""The ledger's guarantees: what a retry does after an attempt died while sending, per
topic, and that a send out of attempts never leaves its rows open."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.ledger import Ledger, LedgerActivities
from sojourn.ground.contracts import Send, SendGiveUp
from sojourn.ground.models import Message
from sojourn.ground.settings import Settings


def a_send(customer_id: str, topic: str = "marketing") -> Send:
    return Send(key=f"j:{customer_id}/run-1/step", customer_id=customer_id, journey="j", workflow_id=f"j:{customer_id}",
                step="step", template="t", topic=topic)


async def status_of(sessions: async_sessionmaker[AsyncSession], key: str) -> tuple[str, str | None]:
    async with sessions() as session:
        row = await session.scalar(select(Message).where(Message.idempotency_key == key))
    return row.status, row.detail


async def test_a_retry_after_a_crash_past_the_point_of_no_return_follows_the_topic(
    sessions: Any, settings: Settings, customer_id: str
) -> None:
    ledger = Ledger(sessions)
    marketing, transactional = a_send(customer_id), a_send(f"{customer_id}-t", "transactional")
    for send in (marketing, transactional):
        assert await ledger.claim(send, "email", guarantee=settings.guarantee(send.topic)) is None
        await ledger.sending(send.key, "lisa@mail.test")  # ... and the worker dies here

    # Marketing: at most once. Recorded unknown, not sent again, and final.
    retry = await ledger.claim(marketing, "email", guarantee=settings.guarantee("marketing"))
    assert retry is not None and retry.status == "unknown"
    assert (await status_of(sessions, marketing.key))[0] == "unknown"
    again = await ledger.claim(marketing, "email", guarantee=settings.guarantee("marketing"))
    assert again is not None and (again.status, again.already_done) == ("unknown", True)

    # Transactional: at least once. Sent again (with the same Message-ID).
    assert await ledger.claim(transactional, "email", guarantee=settings.guarantee("transactional")) is None
    assert (await status_of(sessions, transactional.key))[0] == "sending"


def test_guarantees_are_configured_per_topic() -> None:
    settings = Settings(delivery_guarantees="marketing=at-least-once,alerts=at-least-once")
    assert [settings.guarantee(t) for t in ("marketing", "alerts", "transactional", "other")] == \
        ["at-least-once", "at-least-once", "at-most-once", "at-most-once"]
    with pytest.raises(ValueError, match="delivery_guarantees"):
        Settings(delivery_guarantees="marketing=twice")


async def test_a_send_out_of_attempts_ends_failed_or_unknown_never_open(sessions: Any, customer_id: str) -> None:
    ledger = Ledger(sessions)
    never_sent, died_sending = a_send(customer_id), a_send(f"{customer_id}-2")
    delivery = dataclasses.replace(died_sending, key=died_sending.key + "#push1")
    for send in (never_sent, died_sending, delivery):
        assert await ledger.claim(send, "email") is None
    await ledger.sending(died_sending.key)
    await ledger.sending(delivery.key)

    give_up = LedgerActivities(sessions).give_up_send
    assert await ActivityEnvironment().run(give_up, SendGiveUp(never_sent.key, "ValueError: bad header")) == "failed"
    assert await ActivityEnvironment().run(give_up, SendGiveUp(died_sending.key, "timeout")) == "unknown"
    status, detail = await status_of(sessions, never_sent.key)
    assert status == "failed" and "out of attempts: ValueError: bad header" in (detail or "")
    assert (await status_of(sessions, delivery.key))[0] == "unknown", "a push's per-browser rows too"
    # Giving up again (a retried activity) changes nothing.
    assert await ActivityEnvironment().run(give_up, SendGiveUp(never_sent.key, "again")) == "failed"
