"""#26.5, double opt-in: marketing email consent that a browser gives (the wheel's box)
is pending until she clicks the signed link in a confirmation email; her prize code is
shown all the same. On by default. The link works once per address, only for the
address it was sent to, and not after it expires; a GET changes nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Consent, Customer, Event
from sojourn.ground.settings import Settings
from sojourn.ground.signing import load_signer
from sojourn.identity.consent import ConsentRef, confirmation_token
from tests.conftest import SERVER_KEY, Api, basic, keep_history, open_api
from tests.support.smtp import Inbox, confirm_link
from tests.test_lead_capture import popup, spin, stock
from worker import build_worker
from workflows.journeys.email_confirmation import EmailConfirmation
from workflows.journeys.lead_capture import LeadCapture


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as opened:
        yield opened


async def consent_of(sessions: Any, who: str) -> tuple[bool, str] | None:
    async with sessions() as session:
        row = await session.scalar(select(Consent).where(
            Consent.customer_id == who, Consent.channel == "email", Consent.topic == "marketing"))
    return (row.subscribed, row.source) if row else None


async def told(sessions: Any, who: str, name: str) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(Event).where(
            Event.customer_id == who, Event.name == name)) or 0


async def test_a_browser_spin_is_pending_until_she_confirms(env: WorkflowEnvironment, api: Api, inbox: Inbox,
                                                            sessions: Any, customer_id: str) -> None:
    await stock(sessions)
    address = f"{customer_id}@mail.test"
    won = await spin(api, customer_id, address)
    assert won.status_code == 200 and won.json()["won"] is True, "her prize is shown all the same"
    assert await consent_of(sessions, customer_id) == (False, "pending:wheel:first_order")
    assert await told(sessions, customer_id, "Newsletter Subscribed") == 0
    assert await told(sessions, customer_id, "Email Confirmation Requested") == 1

    # At once, a transactional email (no List-Unsubscribe: she asked for it) with her link.
    mail = await inbox.arrival(customer_id, "Please confirm your email address")
    assert mail["List-Unsubscribe"] is None and mail["X-Sojourn-Journey"] == "email_confirmation"
    link = confirm_link(mail)
    handle = api.client.get_workflow_handle(EmailConfirmation.spec.workflow_id(customer_id))

    # A mailbox's scanner follows the link: the page asks, nothing changes.
    page = await api.http.get(link)
    assert page.status_code == 200 and "confirm" in page.text.lower() and f'action="{link}"' in page.text
    assert await consent_of(sessions, customer_id) == (False, "pending:wheel:first_order")
    # A forged or altered link confirms nothing.
    for forged in (link[:-2] + ("AA" if not link.endswith("AA") else "BB"), "/v1/confirm/nonsense"):
        assert (await api.http.post(forged)).status_code == 400

    # Her click: subscribed, and every journey told once, however many times she clicks.
    for _ in range(2):
        done = await api.http.post(link)
        assert done.status_code == 200 and "confirmed" in done.text, done.text
        await api.settled()
    assert await consent_of(sessions, customer_id) == (True, "double opt-in")
    result = await handle.result()
    assert (result["outcome"], result["converted"], result["sends"]) == ("exited", True, {"confirmation": "sent"})
    await keep_history(handle, "email_confirmation_confirmed")
    assert await told(sessions, customer_id, "Newsletter Subscribed") == 1
    async with sessions() as session:
        assert (await session.get(Customer, customer_id, populate_existing=True)).newsletter_subscribed is True


async def test_unconfirmed_she_gets_no_marketing(env: WorkflowEnvironment, api: Api, inbox: Inbox, sessions: Any,
                                                 customer_id: str) -> None:
    """The lead capture's prize reminder is marketing: it waits on her confirmation."""
    await stock(sessions)
    await api.page(customer_id, name="Home", properties={"path": "/"})
    handle = api.client.get_workflow_handle(LeadCapture.spec.workflow_id(customer_id))
    assert len(await popup(api, customer_id, expect=1)) == 1  # the wheel is shown, then she spins
    assert (await spin(api, customer_id, f"{customer_id}@mail.test")).json()["won"] is True
    await inbox.arrival(customer_id, "Please confirm your email address")
    await env.fast_forward(handle, timedelta(days=15))  # past the reminder and the goal's window
    result = await handle.result()
    assert result["sends"]["prize_reminder"] == "skipped", result
    assert [m["Subject"] for m in inbox.to(customer_id)] == ["Please confirm your email address"]


async def test_a_link_confirms_only_its_own_address(api: Api, inbox: Inbox, sessions: Any, settings: Settings,
                                                    customer_id: str) -> None:
    await stock(sessions)
    assert (await spin(api, customer_id, f"{customer_id}@mail.test")).status_code == 200
    link = confirm_link(await inbox.arrival(customer_id, "Please confirm your email address"))
    # The shop's backend moves her to another address before she clicks.
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@elsewhere.test"}})
    refused = await api.http.post(link)
    assert refused.status_code == 409 and "no longer on your profile" in refused.text
    assert await consent_of(sessions, customer_id) == (False, "pending:wheel:first_order")
    # And a link signed for her, but expired, is gone.
    signer = await load_signer(sessions, settings)
    old = confirmation_token(signer, ConsentRef(customer_id, "email", "marketing"), f"{customer_id}@elsewhere.test",
                             int(time.time()) - 1)
    for method in ("GET", "POST"):
        assert (await api.http.request(method, f"/v1/confirm/{old}")).status_code == 410
    assert await consent_of(sessions, customer_id) == (False, "pending:wheel:first_order")


async def test_who_needs_no_confirmation(api: Api, inbox: Inbox, sessions: Any, settings: Settings,
                                         customer_id: str) -> None:
    """The shop's backend vouches for its own forms; the address already on her profile
    is subscribed by the opt-out default (nothing to take away); a shop that turns
    double opt-in off subscribes at the spin."""
    await stock(sessions)
    server = {"Authorization": basic(SERVER_KEY)}
    assert (await spin(api, customer_id, f"{customer_id}@mail.test", headers=server)).status_code == 200
    assert await consent_of(sessions, customer_id) == (True, "wheel:first_order")

    known = f"{customer_id}-known"
    await api.post("/v1/identify", {"userId": known, "traits": {"email": f"{known}@mail.test"}})
    assert (await spin(api, known, f"{known}@mail.test")).status_code == 200
    assert await consent_of(sessions, known) == (True, "wheel:first_order")
    assert await told(sessions, known, "Email Confirmation Requested") == 0

    off = settings.model_copy(update={"double_opt_in": False})
    async with open_api(off, api.client) as single:
        elsewhere = f"{customer_id}-single"
        assert (await spin(single, elsewhere, f"{elsewhere}@mail.test")).status_code == 200
    assert await consent_of(sessions, elsewhere) == (True, "wheel:first_order")
    assert await told(sessions, elsewhere, "Newsletter Subscribed") == 1
    for who in (customer_id, known, elsewhere):
        assert [m["Subject"] for m in inbox.to(who)] == [], "nothing to confirm"
