"""Content as data (sojourn/content/store.py): the files are the first version, a send
renders what is published when it is first claimed, and keeps it on every retry."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
from activities.rendering import ContentTemplates
from sojourn.content import store
from sojourn.content.store import ContentStore, from_files
from sojourn.ground.contracts import Send
from sojourn.ground.models import Message
from sojourn.ground.settings import Settings
from tests.conftest import Api
from tests.support.smtp import Inbox

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def parts(subject: str) -> dict[str, str]:
    return {"subject": subject, "html": "<p>Hi {{ customer.first_name }}</p><a href=\"{{ unsubscribe_url }}\">x</a>",
            "text": "Hi {{ customer.first_name }}\n{{ unsubscribe_url }}"}


async def published(sessions: Any, name: str, subject: str) -> int:
    async with sessions() as session:
        version = await store.publish(session, name, parts(subject), "marketer")
        await session.commit()
    return version


def a_send(customer_id: str, template: str, step: str = "email") -> Send:
    return Send(key=f"content:{customer_id}/run-1/{step}", customer_id=customer_id, journey="content_test",
                workflow_id=f"content_test:{customer_id}", step=step, template=template)


def test_every_file_in_templates_is_content() -> None:
    found = from_files(TEMPLATES)
    assert set(found["email/cart_abandonment"]) == {"subject", "html", "text"}
    assert set(found["email/_coupon"]) == {"html", "text"}  # a partial: what its file has
    assert set(found) >= {"push/cart_abandonment", "onsite/registration_hero", "onsite/app_banner",
                          "wheels/first_order"}
    files = {p for p in TEMPLATES.rglob("*") if p.is_file()}
    named = {TEMPLATES / store.template_name(name, part) for name, found_parts in found.items() for part in found_parts}
    assert files == named, "every file is a part of some content, and nothing else is"


async def test_the_files_are_version_one_once(sessions: Any) -> None:
    content = ContentStore(sessions, TEMPLATES)
    snapshot = await content.snapshot()
    assert snapshot.versions["email/cart_abandonment"] >= 1 and snapshot.items["email/cart_abandonment"]["subject"]
    async with sessions() as session:
        first = await store.version_of(session, "email/cart_abandonment", 1)
    assert first is not None and first.created_by == "files"
    assert first.parts == from_files(TEMPLATES)["email/cart_abandonment"]
    assert await store.seed(sessions, TEMPLATES) == [], "a second start stores nothing"


async def test_the_next_send_uses_what_was_published(api: Api, settings: Settings, sessions: Any, inbox: Inbox,
                                                      customer_id: str) -> None:
    name = f"t{uuid.uuid4().hex[:12]}"
    await published(sessions, f"email/{name}", "First words")
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                      "first_name": "Lisa"}})
    email = EmailActivities(settings, sessions, ContentTemplates(ContentStore(sessions, TEMPLATES)))
    await ActivityEnvironment().run(email.send_email, a_send(customer_id, name, "one"))
    version = await published(sessions, f"email/{name}", "Second words")
    await ActivityEnvironment().run(email.send_email, a_send(customer_id, name, "two"))
    async with sessions() as session:
        await store.rollback(session, f"email/{name}", 1, "marketer")
        await session.commit()
    await ActivityEnvironment().run(email.send_email, a_send(customer_id, name, "three"))

    assert [m["Subject"] for m in inbox.to(customer_id)] == ["First words", "Second words", "First words"]
    async with sessions() as session:
        rows = (await session.execute(select(Message.step, Message.content_version, Message.content_revision)
                                      .where(Message.customer_id == customer_id).order_by(Message.id))).all()
    assert [(step, v) for step, v, _ in rows] == [("one", 1), ("two", version), ("three", 1)]
    assert rows[0][2] < rows[1][2] < rows[2][2], "each claimed the revision live then"


async def test_a_retry_after_a_publish_keeps_the_words_it_claimed(api: Api, settings: Settings, sessions: Any,
                                                                 inbox: Inbox, customer_id: str) -> None:
    name = f"t{uuid.uuid4().hex[:12]}"
    await published(sessions, f"email/{name}", "Before")
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    templates = ContentTemplates(ContentStore(sessions, TEMPLATES))
    down = settings.model_copy(update={"smtp_port": 1, "smtp_timeout_seconds": 2})
    with pytest.raises(Exception):  # claimed, then the SMTP server is unreachable: the activity will retry
        await ActivityEnvironment().run(EmailActivities(down, sessions, templates).send_email, a_send(customer_id, name))
    await published(sessions, f"email/{name}", "After")
    retried = await ActivityEnvironment().run(EmailActivities(settings, sessions, templates).send_email,
                                              a_send(customer_id, name))
    assert retried.status == "sent"
    assert [m["Subject"] for m in inbox.to(customer_id)] == ["Before"]
    async with sessions() as session:
        row = await session.scalar(select(Message).where(Message.customer_id == customer_id))
    assert (row.content_version, row.attempts) == (1, 2)


async def test_a_new_worker_sees_a_publish_without_a_restart(api: Api, settings: Settings, sessions: Any,
                                                            inbox: Inbox, customer_id: str) -> None:
    """The same templates object (a worker that keeps running) before and after."""
    name = f"t{uuid.uuid4().hex[:12]}"
    await published(sessions, f"email/{name}", "One")
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    email = EmailActivities(settings, sessions, ContentTemplates(ContentStore(sessions, TEMPLATES)))
    for step, subject in (("a", "One"), ("b", "Two"), ("c", "Three")):
        if step != "a":
            await published(sessions, f"email/{name}", subject)
        await ActivityEnvironment().run(email.send_email, a_send(customer_id, name, step))
    assert [m["Subject"] for m in inbox.to(customer_id)] == ["One", "Two", "Three"]
