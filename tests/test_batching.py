"""Group commit for sends (activities/batching.py): what runs together, what runs at
once, and that one bad item fails only its own call; then the ledger under it, where
sends of one worker at the same moment share transactions and still keep every cap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.testing import ActivityEnvironment

from activities.batching import Coalesced
from activities.email import EmailActivities
from activities.ledger import Ledger
from activities.rendering import Templates
from sojourn.ground.contracts import Send
from sojourn.ground.models import Message, MessageAttempt
from sojourn.ground.settings import Settings
from tests.conftest import Api
from tests.support.smtp import Inbox


class Recorder:
    def __init__(self, bad: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.bad = bad

    async def run(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        await asyncio.sleep(0.01)  # a transaction's round trips
        if self.bad in items:
            raise ValueError(f"refused {self.bad}")
        return [item.upper() for item in items]


async def test_a_lone_call_runs_at_once_and_calls_made_meanwhile_go_together() -> None:
    recorder = Recorder()
    batched = Coalesced(recorder.run)
    assert await batched("alone") == "ALONE"
    assert recorder.batches == [["alone"]]
    first = asyncio.ensure_future(batched("s0"))
    await asyncio.sleep(0.001)  # its transaction is under way
    results = await asyncio.gather(first, *(batched(f"s{i}") for i in range(1, 10)))
    assert results == [f"S{i}" for i in range(10)]
    # The nine that came while the first was in flight went together, in one more.
    assert recorder.batches[1:] == [["s0"], [f"s{i}" for i in range(1, 10)]]
    assert batched.runs == 3


async def test_several_calls_at_once_go_in_one_batch() -> None:
    recorder = Recorder()
    batched = Coalesced(recorder.run)
    assert await batched.each(["a", "b", "c"]) == ["A", "B", "C"]
    assert recorder.batches == [["a", "b", "c"]]


async def test_a_batch_is_cut_at_its_limit() -> None:
    recorder = Recorder()
    batched = Coalesced(recorder.run, limit=4)
    await asyncio.gather(*(batched(f"s{i}") for i in range(10)))
    assert [len(b) for b in recorder.batches] == [4, 4, 2]


async def test_one_bad_item_fails_only_its_own_call() -> None:
    recorder = Recorder(bad="s3")
    batched = Coalesced(recorder.run)
    results = await asyncio.gather(*(batched(f"s{i}") for i in range(6)), return_exceptions=True)
    assert [type(r).__name__ if isinstance(r, Exception) else r for r in results] == \
        ["S0", "S1", "S2", "ValueError", "S4", "S5"]
    assert str(results[3]) == "refused s3"


def a_send(customer_id: str, step: str) -> Send:
    return Send(key=f"probe:{customer_id}/run/{step}", customer_id=customer_id, journey="cart_abandonment",
                workflow_id=f"probe:{customer_id}", step=step, template="cart_abandonment",
                data={"items": [{"name": "Velvet Lipstick", "quantity": 1}]})


@pytest.mark.parametrize("customers", [3])
async def test_one_workers_sends_at_the_same_moment_share_transactions_and_keep_each_cap(
        api: Api, settings: Settings, sessions: Any, inbox: Inbox, customer_id: str, customers: int) -> None:
    people = [f"{customer_id}-{i}" for i in range(customers)]
    for who in people:
        assert (await api.post("/v1/identify", {"userId": who, "traits": {"email": f"{who}@mail.test"}})).status_code == 200
    email = EmailActivities(settings, sessions, Templates(settings.templates_dir))  # one worker's
    # Each of them: five journeys decide to email her at once; the cap is 3 a day.
    jobs = [a_send(who, f"step-{n}") for n in range(5) for who in people]
    results = await asyncio.gather(*(ActivityEnvironment().run(email.send_email, job) for job in jobs))
    for who in people:
        mine = [r.status for job, r in zip(jobs, results) if job.customer_id == who]
        assert sorted(mine) == ["sent"] * 3 + ["skipped"] * 2, who
        assert len(inbox.to(who)) == 3
    assert email._prepared.runs < len(jobs) / 2, "the claims went in shared transactions"
    async with sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(Message).where(Message.customer_id.in_(people)))
    assert rows == len(jobs)
    # Retried together, every one hands back what it recorded and nothing goes out again.
    again = await asyncio.gather(*(ActivityEnvironment().run(email.send_email, job) for job in jobs))
    assert [(r.status, r.already_done) for r in again] == [(r.status, True) for r in results]
    assert sum(len(inbox.to(who)) for who in people) == 3 * customers


async def test_marks_and_outcomes_of_the_moment_go_in_one_statement_each(sessions: Any, customer_id: str) -> None:
    """The `sending` marks and the outcomes run as one statement per batch (executemany).
    An IN list in the mark's statement once made every batch fail, so each mark went
    alone; each answer was still right, so only the count of transactions shows it."""
    ledger = Ledger(sessions)
    sends = [a_send(customer_id, f"moment-{i}") for i in range(10)]
    assert await asyncio.gather(*(ledger.claim(send, "email") for send in sends)) == [None] * 10
    assert await ledger.claim(sends[0], "email") is None  # a retry: its second attempt
    runs = ledger._sendings.runs
    await asyncio.gather(*(ledger.sending(send.key, f"{i}@mail.test") for i, send in enumerate(sends)))
    assert ledger._sendings.runs - runs == 1, "the ten together"
    runs = ledger._records.runs
    await asyncio.gather(*(ledger.record(send.key, "sent", "250 ok", f"{i}@mail.test") for i, send in enumerate(sends)))
    assert ledger._records.runs - runs == 1
    async with sessions() as session:
        rows = {m.idempotency_key: (m.status, m.recipient) for m in await session.scalars(
            select(Message).where(Message.idempotency_key.in_([s.key for s in sends])))}
        answers = {(a.idempotency_key, a.attempt, a.status) for a in await session.scalars(
            select(MessageAttempt).where(MessageAttempt.idempotency_key.in_([s.key for s in sends])))}
    assert rows == {send.key: ("sent", f"{i}@mail.test") for i, send in enumerate(sends)}
    # Each answer under the attempt its claim counted.
    assert answers == {(send.key, 2 if i == 0 else 1, "sent") for i, send in enumerate(sends)}
