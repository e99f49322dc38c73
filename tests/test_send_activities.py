"""The send activities against a real SMTP server and a real push receiver, with the ledger."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
from activities.push import PushActivities
from activities.rendering import Templates
from sojourn.ground.contracts import Send
from sojourn.ground.models import Customer, Message, PushSubscription
from sojourn.ground.settings import Settings
from tests.conftest import Api
from tests.support.push_receiver import PushReceiver
from tests.support.smtp import Inbox


def a_send(customer_id: str, step: str = "email_24h") -> Send:
    return Send(key=f"cart_abandonment:{customer_id}/run-1/{step}", customer_id=customer_id,
                journey="cart_abandonment", workflow_id=f"cart_abandonment:{customer_id}", step=step,
                template="cart_abandonment", data={"items": [{"name": "Velvet Lipstick", "quantity": 1, "price": 24}],
                                                   "cart_id": "c-1"})


async def test_a_retried_email_send_is_not_sent_twice(api: Api, settings: Settings, sessions: Any,
                                                      inbox: Inbox, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    email = EmailActivities(settings, sessions, Templates(settings.templates_dir))
    first = await ActivityEnvironment().run(email.send_email, a_send(customer_id))
    retry = await ActivityEnvironment().run(email.send_email, a_send(customer_id))
    assert (first.status, first.already_done) == ("sent", False)
    assert (retry.status, retry.already_done) == ("sent", True)
    [mail] = inbox.to(customer_id)
    assert mail["Message-ID"].endswith("@sojourn>") and mail["Date"]
    async with sessions() as session:
        row = await session.scalar(select(Message).where(Message.customer_id == customer_id))
    assert (row.status, row.attempts, row.recipient, row.channel) == ("sent", 1, f"{customer_id}@mail.test", "email")


async def test_an_email_to_a_customer_without_address_is_skipped(settings: Settings, sessions: Any,
                                                                 inbox: Inbox, customer_id: str) -> None:
    email = EmailActivities(settings, sessions, Templates(settings.templates_dir))
    result = await ActivityEnvironment().run(email.send_email, a_send(customer_id))
    assert (result.status, result.detail) == ("skipped", "no email address")
    assert inbox.to(customer_id) == []


async def test_a_refused_smtp_connection_fails_the_attempt_for_a_retry(settings: Settings, sessions: Any,
                                                                        api: Api, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    down = settings.model_copy(update={"smtp_port": 1, "smtp_timeout_seconds": 2})
    email = EmailActivities(down, sessions, Templates(settings.templates_dir))
    with pytest.raises(Exception):
        await ActivityEnvironment().run(email.send_email, a_send(customer_id))
    async with sessions() as session:
        row = await session.scalar(select(Message).where(Message.customer_id == customer_id))
    assert row.status == "queued", "not marked sent, so the activity's retry sends it"


async def test_push_fans_out_once_per_browser_and_forgets_gone_ones(
    api: Api, settings: Settings, sessions: Any, push_service: PushReceiver, customer_id: str
) -> None:
    laptop, phone = push_service.browser(f"{customer_id}-laptop"), push_service.browser(f"{customer_id}-phone")
    for browser in (laptop, phone):
        response = await api.post(f"/v1/customers/{customer_id}/push-subscriptions",
                                  browser.subscription(push_service.base_url))
        assert response.status_code == 201
    push_service.answer[phone.name] = 410  # the phone unsubscribed
    push = PushActivities(settings, sessions, Templates(settings.templates_dir))
    result = await ActivityEnvironment().run(push.send_push, a_send(customer_id, "push_1h"))
    assert (result.status, result.detail) == ("sent", "1/2 subscriptions")
    [delivery] = push_service.to(laptop.name)
    assert delivery.payload["body"] == "Your Velvet Lipstick is waiting in your cart."
    assert delivery.payload["tag"] == "cart-c-1"
    # Delivery options from the template: TTL, Urgency, Topic (the tag, RFC 8030-safe).
    assert (delivery.headers["ttl"], delivery.headers["urgency"], delivery.headers["topic"]) == ("43200", "normal", "cart-c-1")
    assert "ttl" not in delivery.payload and "urgency" not in delivery.payload
    async with sessions() as session:
        endpoints = (await session.scalars(select(PushSubscription.endpoint).where(
            PushSubscription.customer_id == customer_id))).all()
    assert endpoints == [laptop.subscription(push_service.base_url)["endpoint"]]

    again = await ActivityEnvironment().run(push.send_push, a_send(customer_id, "push_1h"))
    assert again.status == "sent" and len(push_service.to(laptop.name)) == 1, "a retry does not push again"


async def test_push_never_posts_outside_the_allow_list(api: Api, settings: Settings, sessions: Any,
                                                       push_service: PushReceiver, customer_id: str) -> None:
    browser = push_service.browser(f"{customer_id}-b")
    await api.post(f"/v1/customers/{customer_id}/push-subscriptions", browser.subscription(push_service.base_url))
    # The allow-list tightens after the browser subscribed: the send must refuse too.
    strict = settings.model_copy(update={"push_allowed_hosts": ["fcm.googleapis.com"]})
    push = PushActivities(strict, sessions, Templates(settings.templates_dir))
    result = await ActivityEnvironment().run(push.send_push, a_send(customer_id, f"push-{uuid.uuid4()}"))
    assert result.status == "skipped"
    assert push_service.to(browser.name) == []


def test_templates_render_in_a_sandbox(tmp_path: Any) -> None:
    from jinja2.exceptions import SecurityError

    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "evil.subject.txt").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    (tmp_path / "email" / "evil.html").write_text("<p>{{ name }}</p>")
    (tmp_path / "email" / "evil.txt").write_text("{{ name }}")
    with pytest.raises(SecurityError):
        Templates(tmp_path).email("evil", {"name": "x"})
    (tmp_path / "email" / "evil.subject.txt").write_text("Hi")
    assert Templates(tmp_path).email("evil", {"name": "<script>"}).html == "<p>&lt;script&gt;</p>"


async def test_the_vapid_token_is_reused_per_push_service(api: Api, settings: Settings, sessions: Any,
                                                         push_service: PushReceiver, customer_id: str) -> None:
    browser = push_service.browser(f"{customer_id}-b")
    await api.post(f"/v1/customers/{customer_id}/push-subscriptions", browser.subscription(push_service.base_url))
    push = PushActivities(settings.model_copy(update={"frequency_caps": ""}), sessions, Templates(settings.templates_dir))
    for step in ("one", "two", "three"):
        assert (await ActivityEnvironment().run(push.send_push, a_send(customer_id, step))).status == "sent"
    tokens = {d.headers["authorization"] for d in push_service.to(browser.name)}
    assert len(push_service.to(browser.name)) == 3 and len(tokens) == 1


async def test_a_429_is_retried_no_sooner_than_retry_after(api: Api, settings: Settings, sessions: Any,
                                                           push_service: PushReceiver, customer_id: str) -> None:
    from datetime import timedelta

    from temporalio.exceptions import ApplicationError

    browser = push_service.browser(f"{customer_id}-b")
    await api.post(f"/v1/customers/{customer_id}/push-subscriptions", browser.subscription(push_service.base_url))
    push = PushActivities(settings, sessions, Templates(settings.templates_dir))
    push_service.answer[browser.name] = 429
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(push.send_push, a_send(customer_id, "push_1h"))
    assert raised.value.next_retry_delay == timedelta(seconds=7) and not raised.value.non_retryable
    del push_service.answer[browser.name]
    result = await ActivityEnvironment().run(push.send_push, a_send(customer_id, "push_1h"))
    assert result.status == "sent" and len(push_service.to(browser.name)) == 2  # the 429'd attempt, then this one


async def test_an_unsubscribed_customer_gets_no_marketing_push(api: Api, settings: Settings, sessions: Any,
                                                               push_service: PushReceiver, customer_id: str) -> None:
    from sojourn.identity.consent import ConsentRef, set_consent

    browser = push_service.browser(f"{customer_id}-b")
    await api.post(f"/v1/customers/{customer_id}/push-subscriptions", browser.subscription(push_service.base_url))
    async with sessions() as session:
        await set_consent(session, ConsentRef(customer_id, "push", "marketing"), subscribed=False, source="api")
        await session.commit()
    push = PushActivities(settings, sessions, Templates(settings.templates_dir))
    result = await ActivityEnvironment().run(push.send_push, a_send(customer_id, "push_1h"))
    assert (result.status, result.detail) == ("skipped", "unsubscribed from marketing push")
    assert push_service.to(browser.name) == []


def test_the_seed_onsite_templates_render(tmp_path: Any) -> None:
    from pathlib import Path

    templates = Templates(Path(__file__).resolve().parent.parent / "templates")
    context = {"customer": {"first_name": "Lisa"}, "store_url": "https://beauty.test",
               "referral_code": "abc.def", "referral_url": "https://beauty.test/r/abc.def", "incentive": "10% off"}
    assert templates.onsite("greeting_bar", context)["text"] == "Welcome back, Lisa!"
    assert templates.onsite("smart_banner", context)["url"] == "https://beauty.test/cart"
    prompt = templates.onsite("referral_prompt", context)
    assert prompt["placement"] == "referral_prompt" and prompt["referral_code"] == "abc.def"
    assert prompt["text"] == "Give a friend 10% off and get the same."



def test_what_a_template_reads_includes_its_partials(tmp_path: Any) -> None:
    """A template that shows a partial reads what the partial reads (the costly context,
    `recommendations`, `confirm_url`, is filled only for templates that read it)."""
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "_picks.txt").write_text("{% for p in recommendations.popular %}{{ p.name }}{% endfor %}")
    (tmp_path / "email" / "_loop.txt").write_text('{% include "email/_loop.txt" %}')
    (tmp_path / "email" / "news.subject.txt").write_text("News")
    (tmp_path / "email" / "news.txt").write_text('Hi\n{% include "email/_picks.txt" %}')
    (tmp_path / "email" / "news.html").write_text("<p>Hi</p>")
    templates = Templates(tmp_path)
    assert templates.email_uses("news", "recommendations")
    assert not templates.email_uses("news", "confirm_url")
    assert not templates.uses("email/_loop.txt", "confirm_url"), "a partial that includes itself ends"
    assert Templates(tmp_path).email("news", {"recommendations": {"popular": [{"name": "Serum"}]}}).text == "Hi\nSerum"

@pytest.mark.parametrize("stored", ["a@example.com, other@evil.example", "lisa@mail.test\r\nBcc: x@evil.example",
                                    "Lisa <lisa@mail.test>", "no-at-sign"])
async def test_a_stored_address_that_is_not_one_valid_mailbox_is_skipped(
    settings: Settings, sessions: Any, inbox: Inbox, customer_id: str, stored: str
) -> None:
    """Written before the API checked addresses, or straight into the database."""
    async with sessions() as session:
        session.add(Customer(id=customer_id, email=stored, traits={}))
        await session.commit()
    email = EmailActivities(settings, sessions, Templates(settings.templates_dir))
    result = await ActivityEnvironment().run(email.send_email, a_send(customer_id))
    assert result.status == "skipped" and result.detail.startswith("invalid address"), result
    assert inbox.to("other@evil.example") == [] and inbox.to("x@evil.example") == [] and inbox.to(customer_id) == []
    async with sessions() as session:
        row = await session.scalar(select(Message).where(Message.customer_id == customer_id))
    assert row.status == "skipped"


async def test_a_line_break_in_a_first_name_does_not_stop_the_email(api: Api, settings: Settings, sessions: Any,
                                                                    inbox: Inbox, customer_id: str) -> None:
    """It used to fail every attempt (EmailMessage refuses it) and leave the row queued."""
    response = await api.post("/v1/identify", {"userId": customer_id, "traits": {
        "email": f"{customer_id}@mail.test", "firstName": "Lisa\r\nBcc: x@evil.example"}})
    assert response.status_code == 200
    email = EmailActivities(settings, sessions, Templates(settings.templates_dir))
    result = await ActivityEnvironment().run(email.send_email, a_send(customer_id))
    assert result.status == "sent", result
    [mail] = inbox.to(customer_id)
    assert mail["Bcc"] is None and mail["To"].addresses[0].addr_spec == f"{customer_id}@mail.test"
    assert mail["To"].addresses[0].display_name == "Lisa Bcc: x@evil.example"
