"""The dashboard's content editor in headless Chromium, signed in with a marketer key:
edit the cart email, preview it, have a bad line refused with its line, publish, see the
next send use it, and roll back with one click."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.email import EmailActivities
from activities.rendering import ContentTemplates
from sojourn.content.store import ContentStore
from sojourn.ground.contracts import Send
from sojourn.ground.settings import Settings
from tests.conftest import MARKETER_KEY, SERVER_KEY, basic
from tests.support.browser import chromium, served_api
from tests.support.smtp import Inbox

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
async def dashboard(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[str]:
    async with served_api(env.client, settings) as origin:
        yield origin


async def next_cart_email(settings: Settings, sessions: Any, inbox: Inbox, customer_id: str, step: str) -> str:
    """The cart journey's email step, as the worker sends it: its subject. (Four sends to
    one customer: no frequency cap.)"""
    email = EmailActivities(settings.model_copy(update={"frequency_caps": ""}), sessions, ContentTemplates(ContentStore(sessions, TEMPLATES)))
    send = Send(key=f"cart_abandonment:{customer_id}/r/{step}", customer_id=customer_id, journey="cart_abandonment",
                workflow_id=f"cart_abandonment:{customer_id}", step=step, template="cart_abandonment",
                data={"items": [{"name": "Velvet Lipstick", "quantity": 1, "price": 24}]})
    assert (await ActivityEnvironment().run(email.send_email, send)).status == "sent"
    return str(inbox.to(customer_id)[-1]["Subject"])


async def test_a_marketer_edits_previews_publishes_and_rolls_back(
        dashboard: str, settings: Settings, sessions: Any, inbox: Inbox, customer_id: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard) as http:
        await http.post("/v1/identify", headers={"Authorization": basic(SERVER_KEY)}, json={
            "userId": customer_id, "traits": {"email": f"{customer_id}@mail.test", "first_name": "Maya"},
            "messageId": str(uuid.uuid4())})
        # The editor's calls need the dashboard's header: another site's page can't send them.
        forged = await http.post("/dashboard/content/email/cart_abandonment/rollback", json={"version": 1},
                                 auth=("me", MARKETER_KEY))
        assert forged.status_code == 403
    before = await next_cart_email(settings, sessions, inbox, customer_id, "before")
    new_subject = f"Still yours, {{{{ customer.first_name }}}} ({uuid.uuid4().hex[:6]})"

    async with chromium() as browser:
        context = await browser.new_context(http_credentials={"username": "marketer", "password": MARKETER_KEY})
        errors: list[str] = []
        try:
            page = await context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            # (The sample's product images are on the shop's host, which the test can't reach;
            # the refused publish's 422 is this test's own.)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not any(
                expected in m.text for expected in ("ERR_NAME_NOT_RESOLVED", "status of 422")) else None)
            await page.goto(dashboard + "/dashboard")
            await page.click("#nav-content")
            live = int(await page.text_content('#content tr[data-content="email/cart_abandonment"] .live') or 0)
            await page.click('#content tr[data-content="email/cart_abandonment"] a')
            await page.wait_for_selector("body[data-editor=ready]")
            assert int(await page.text_content("#live-version") or 0) == live
            assert "Lisa" in (await page.text_content("#preview-text") or ""), "the sample customer, at once"

            # Edit and preview, for her.
            await page.fill("textarea.part-subject", new_subject)
            await page.fill("#preview-customer", customer_id)
            await page.click("#preview")
            await page.wait_for_selector("#status[data-state=ok]")
            assert await page.text_content("#preview-subject") == new_subject.replace(
                "{{ customer.first_name }}", "Maya")
            frame = page.frame_locator("#preview-html")  # the HTML, in a sandboxed frame
            assert "Maya" in (await frame.locator("body").text_content() or "")

            # A bad line is refused, with its line; the live version stays.
            html = await page.input_value("textarea.part-html")
            lines = html.split("\n")
            broken = "\n".join([*lines[:2], "<p>{{ customer.first_name </p>", *lines[2:]])
            await page.fill("textarea.part-html", broken)
            await page.click("#publish")
            await page.wait_for_selector("#status[data-state=refused]")
            assert await page.get_attribute("#problems li", "data-line") == "3"
            assert "html line 3" in (await page.text_content("#status") or "")
            assert await next_cart_email(settings, sessions, inbox, customer_id, "refused") == before

            # Fixed, published: the next send says it.
            await page.fill("textarea.part-html", html)
            await page.fill("#publish-note", "a warmer subject")
            async with page.expect_navigation():
                await page.click("#publish")
            await page.wait_for_selector("body[data-editor=ready]")
            assert int(await page.text_content("#live-version") or 0) > live
            published = int(await page.text_content("#live-version") or 0)
            assert await next_cart_email(settings, sessions, inbox, customer_id, "after") == new_subject.replace(
                "{{ customer.first_name }}", "Maya")
            row = page.locator(f'#versions tr[data-version="{published}"]')
            assert "a warmer subject" in (await row.text_content() or "")

            # The old version is one click away.
            async with page.expect_navigation():  # (from the keyboard: tests/test_dev_stack_content.py says why)
                await page.locator(f'button.rollback[data-version="{live}"]').press("Enter")
            await page.wait_for_selector("body[data-editor=ready]")
            assert int(await page.text_content("#live-version") or 0) == live
            assert await next_cart_email(settings, sessions, inbox, customer_id, "rolled-back") == before
            assert errors == [], errors
        finally:
            await context.close()
