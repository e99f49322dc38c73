"""Sends a sender can trust: one-click unsubscribe, consent, bounces and suppression,
SMTP replies classified, and frequency caps enforced atomically."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
from activities.rendering import Templates
from sojourn.ground.contracts import Send
from sojourn.ground.models import Consent, Message, MessageAttempt, Suppression
from sojourn.ground.settings import Settings
from tests.conftest import Api
from tests.support.smtp import BouncingInbox, FlakyInbox, Inbox, start_smtp


def a_send(customer_id: str, step: str | None = None, topic: str = "marketing") -> Send:
    step = step or f"step-{uuid.uuid4().hex[:6]}"
    return Send(key=f"probe:{customer_id}/run/{step}", customer_id=customer_id, journey="cart_abandonment",
                workflow_id=f"probe:{customer_id}", step=step, template="cart_abandonment",
                data={"items": [{"name": "Velvet Lipstick", "quantity": 1}]}, topic=topic)


async def send(settings: Settings, sessions: Any, job: Send) -> Any:
    email = EmailActivities(settings, sessions, Templates(settings.templates_dir))
    return await ActivityEnvironment().run(email.send_email, job)


@pytest.fixture
async def lisa(api: Api, customer_id: str) -> str:
    response = await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    assert response.status_code == 200
    return customer_id


async def test_one_click_unsubscribe_then_resubscribe(api: Api, settings: Settings, sessions: Any, inbox: Inbox,
                                                      lisa: str) -> None:
    assert (await send(settings, sessions, a_send(lisa))).status == "sent"
    [mail] = inbox.to(lisa)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = mail["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://sojourn.test/v1/unsubscribe/")
    # On the wire, as RFC 2369 wants it: the URL in angle brackets, not an encoded-word.
    assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in inbox.raw[-1]
    assert url in mail.get_body(("plain",)).get_content()

    # The mailbox provider's POST: no cookies, no auth; 200 and no redirect.
    response = await api.http.post(urlsplit(url).path, content="List-Unsubscribe=One-Click",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and "you are unsubscribed" in response.text
    async with sessions() as session:
        consent = await session.get(Consent, (lisa, "email", "marketing"))
    assert (consent.subscribed, consent.source) == (False, "one-click")

    skipped = await send(settings, sessions, a_send(lisa))
    assert (skipped.status, skipped.detail) == ("skipped", "unsubscribed from marketing email")
    receipt = await send(settings, sessions, a_send(lisa, topic="transactional"))
    assert receipt.status == "sent", "transactional mail ignores marketing consent"
    assert "List-Unsubscribe" not in inbox.to(lisa)[-1]

    page = await api.http.get(urlsplit(url).path)
    assert page.status_code == 200 and "You are unsubscribed from marketing email" in page.text
    again = await api.http.post(urlsplit(url).path, data={"action": "resubscribe"})
    assert again.status_code == 200 and "Subscribed again." in again.text
    assert (await send(settings, sessions, a_send(lisa))).status == "sent"


async def test_a_tampered_unsubscribe_link_is_refused(api: Api, settings: Settings, sessions: Any, inbox: Inbox,
                                                      lisa: str) -> None:
    await send(settings, sessions, a_send(lisa))
    path = urlsplit(inbox.to(lisa)[-1]["List-Unsubscribe"].strip("<>")).path
    for bad in (path[:-3] + "abc", "/v1/unsubscribe/not-a-token"):
        assert (await api.http.post(bad, content="List-Unsubscribe=One-Click")).status_code == 400
        assert (await api.http.get(bad)).status_code == 400


async def test_a_4xx_reply_is_retried_and_sent_once(settings: Settings, sessions: Any, lisa: str) -> None:
    server, flaky, port = await start_smtp(FlakyInbox(failures=1))
    try:
        there = settings.model_copy(update={"smtp_port": port})
        job = a_send(lisa)
        with pytest.raises(aiosmtplib.SMTPResponseException) as raised:
            await send(there, sessions, job)
        assert raised.value.code == 451
        result = await send(there, sessions, job)  # what the activity's retry does
    finally:
        server.close()
    assert result.status == "sent" and len(flaky.to(lisa)) == 1
    async with sessions() as session:
        row = await session.scalar(select(Message).where(Message.idempotency_key == job.key))
        attempts = (await session.execute(select(MessageAttempt.attempt, MessageAttempt.status, MessageAttempt.response)
                                          .where(MessageAttempt.idempotency_key == job.key)
                                          .order_by(MessageAttempt.id))).all()
    assert (row.status, row.attempts) == ("sent", 2)
    assert [(a, s) for a, s, _ in attempts] == [(1, "queued"), (2, "sent")]
    assert attempts[0][2].startswith("deferred: 451") and "OK" in attempts[1][2]


async def test_a_5xx_reply_bounces_and_suppresses_the_address(settings: Settings, sessions: Any, lisa: str) -> None:
    server, bouncing, port = await start_smtp(BouncingInbox())
    try:
        there = settings.model_copy(update={"smtp_port": port})
        first = await send(there, sessions, a_send(lisa))
        again = await send(there, sessions, a_send(lisa, topic="transactional"))
    finally:
        server.close()
    assert first.status == "failed" and first.detail.startswith("bounced: 550")
    assert (again.status, again.detail) == ("skipped", "address suppressed (bounce)")
    assert bouncing.refused == 1, "the suppressed address is never tried again"
    async with sessions() as session:
        suppressed = await session.get(Suppression, ("email", f"{lisa}@mail.test"))
        statuses = sorted((await session.scalars(select(Message.status).where(Message.customer_id == lisa))).all())
    assert suppressed.reason == "bounce" and statuses == ["bounced", "skipped"]


async def test_the_frequency_cap_holds_under_concurrent_sends(settings: Settings, sessions: Any, inbox: Inbox,
                                                              lisa: str) -> None:
    # Ten journeys decide to email her at the same moment; the cap is 3 a day.
    results = await asyncio.gather(*(send(settings, sessions, a_send(lisa)) for _ in range(10)))
    assert sorted(r.status for r in results) == ["sent"] * 3 + ["skipped"] * 7
    assert {r.detail for r in results if r.status == "skipped"} == {"frequency cap: 3 email per 24h"}
    assert len(inbox.to(lisa)) == 3
    receipts = await asyncio.gather(*(send(settings, sessions, a_send(lisa, topic="transactional")) for _ in range(2)))
    assert [r.status for r in receipts] == ["sent", "sent"], "transactional mail is exempt"


async def test_a_retry_of_a_capped_send_keeps_its_slot(settings: Settings, sessions: Any, inbox: Inbox,
                                                       lisa: str) -> None:
    jobs = [a_send(lisa) for _ in range(3)]
    for job in jobs:
        assert (await send(settings, sessions, job)).status == "sent"
    again = await send(settings, sessions, jobs[0])
    assert (again.status, again.already_done) == ("sent", True)
    assert (await send(settings, sessions, a_send(lisa))).status == "skipped"


async def test_smtp_connections_are_pooled_and_replaced_when_dropped(settings: Settings, sessions: Any,
                                                                     lisa: str) -> None:
    from tests.support.smtp import CountingInbox

    # The server drops a connection idle for 2 s: long enough that a loaded machine's
    # slow moment between two sends is not taken for idleness.
    server, counting, port = await start_smtp(CountingInbox(), idle_timeout=2.0)
    try:
        there = settings.model_copy(update={"smtp_port": port, "smtp_pool_size": 2, "frequency_caps": ""})
        email = EmailActivities(there, sessions, Templates(settings.templates_dir))
        for _ in range(4):
            assert (await ActivityEnvironment().run(email.send_email, a_send(lisa))).status == "sent"
        assert counting.sessions == 1, "four messages, one connection"
        await asyncio.gather(*(ActivityEnvironment().run(email.send_email, a_send(lisa)) for _ in range(6)))
        assert counting.sessions <= 2, "never more connections than the pool's size"
        await asyncio.sleep(3.0)  # the server drops the idle connections
        assert (await ActivityEnvironment().run(email.send_email, a_send(lisa))).status == "sent"
        await email.smtp.aclose()
    finally:
        server.close()
    assert len(counting.to(lisa)) == 11


async def test_a_complaint_reported_by_the_provider_suppresses_the_address(api: Api, settings: Settings,
                                                                          sessions: Any, inbox: Inbox,
                                                                          lisa: str) -> None:
    body = {"channel": "email", "address": f"{lisa.upper()}@mail.test", "reason": "complaint", "detail": "FBL"}
    assert (await api.post("/v1/suppressions", body)).status_code == 401, "write keys can't suppress"
    response = await api.http.post("/v1/suppressions", json=body, headers={"Authorization": "Bearer test-operator-key"})
    assert response.status_code == 201
    skipped = await send(settings, sessions, a_send(lisa))
    assert (skipped.status, skipped.detail) == ("skipped", "address suppressed (complaint)")
    bad = await api.http.post("/v1/suppressions", json={**body, "reason": "because"},
                              headers={"Authorization": "Bearer test-operator-key"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("reason:")
    gone = await api.operator("DELETE", f"/v1/suppressions/email/{lisa}@mail.test")
    assert gone.status_code == 204
    assert (await send(settings, sessions, a_send(lisa))).status == "sent"
    assert len(inbox.to(lisa)) == 1
