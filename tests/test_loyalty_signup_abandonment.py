"""Loyalty signup abandonment: a look at the signup page, a day, an email with the perks."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import JourneyEntry, JourneyRun, utcnow
from sojourn.ground.settings import Settings
from tests.conftest import Api, keep_history, open_api
from tests.support.smtp import Inbox
from worker import build_worker
from workflows.journeys.loyalty_signup_abandonment import LoyaltySignupAbandonment


def journey(api: Api, customer_id: str):  # noqa: ANN201
    return api.client.get_workflow_handle_for(LoyaltySignupAbandonment.run, f"loyalty_signup_abandonment:{customer_id}")


async def known(api: Api, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id,
                                    "traits": {"email": f"{customer_id}@mail.test", "first_name": "Lisa"}})


async def test_a_day_after_the_signup_page_she_gets_the_perks(env: WorkflowEnvironment, api: Api, worker: Any,
                                                              inbox: Inbox, customer_id: str) -> None:
    await known(api, customer_id)
    await api.page(customer_id, name="Loyalty", properties={"path": "/loyalty", "title": "Beauty Club"})
    handle = journey(api, customer_id)
    await env.fast_forward(handle, timedelta(hours=23))
    assert inbox.to(customer_id) == []
    await env.fast_forward(handle, timedelta(hours=2))
    [mail] = inbox.to(customer_id)
    assert mail["Subject"] == "Lisa, your Beauty Club perks are one click away"
    assert "birthday gift" in mail.get_body(("plain",)).get_content()
    await env.fast_forward(handle, timedelta(days=2))
    await api.track(customer_id, "Loyalty Signed Up")
    result = await handle.result()
    assert (result.outcome, result.converted) == ("exited", True)
    await keep_history(handle, "loyalty_signup_abandonment_story")
    stats = (await api.operator("GET", "/v1/journeys/loyalty_signup_abandonment/stats")).json()
    assert stats["kpi"] == "signup rate" and stats["entries"] >= 1 and stats["conversions"] >= 1


async def test_signing_up_before_the_day_sends_nothing(env: WorkflowEnvironment, api: Api, worker: Any,
                                                       inbox: Inbox, customer_id: str) -> None:
    await known(api, customer_id)
    # analytics.js puts the path in context.page as well; that counts too.
    await api.page(customer_id, context={"page": {"path": "/loyalty", "url": "https://beauty.test/loyalty"}})
    handle = journey(api, customer_id)
    await env.fast_forward(handle, timedelta(hours=3))
    await api.track(customer_id, "Loyalty Signed Up")
    result = await handle.result()
    assert result.sends == {} and result.converted
    assert inbox.to(customer_id) == []


async def test_other_pages_do_not_enter(api: Api, worker: Any, sessions: Any, customer_id: str) -> None:
    await api.page(customer_id, name="Home", properties={"path": "/"})
    await api.page(customer_id, properties={"path": "/loyalty/terms"})
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(JourneyEntry).where(
            JourneyEntry.customer_id == customer_id, JourneyEntry.journey == "loyalty_signup_abandonment")) == 0


async def test_the_signup_path_is_a_setting(env: WorkflowEnvironment, settings: Settings, worker: Any,
                                            customer_id: str) -> None:
    moved = settings.model_copy(update={"loyalty_signup_path": "/club/join"})
    async with open_api(moved, env.client) as api:
        await api.page(customer_id, properties={"path": "/loyalty"})
        await api.page(customer_id, properties={"path": "/club/join"})
        state = await journey(api, customer_id).query("state")
    assert state["entered_at"] is not None and state["events"] == 1


async def test_reentry_waits_for_the_cooldown(env: WorkflowEnvironment, settings: Settings, sessions: Any,
                                              customer_id: str) -> None:
    # On a demo clock where the 30-day cooldown lasts ten seconds (the journey, ~3 s).
    fast = settings.model_copy(update={"time_scale": 30 * 24 * 3600 / 10})
    async with build_worker(env.client, fast, sessions), open_api(fast, env.client) as api:
        entered = time.monotonic()
        await api.page(customer_id, properties={"path": "/loyalty"})
        await journey(api, customer_id).result()
        assert time.monotonic() - entered < 9
        await api.page(customer_id, properties={"path": "/loyalty"})  # ended, but inside the cooldown
        # The cooldown runs from when the router started her run, which a loaded
        # machine records a moment after the call: wait from that, not from the call.
        async with sessions() as session:
            started = await session.scalar(select(func.max(JourneyRun.started_at)).where(
                JourneyRun.customer_id == customer_id, JourneyRun.journey == "loyalty_signup_abandonment"))
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        await asyncio.sleep(max(0.0, (started + timedelta(seconds=10.5) - utcnow()).total_seconds()))
        await api.page(customer_id, properties={"path": "/loyalty"})  # after it
        await journey(api, customer_id).result()
    async with sessions() as session:
        entries = await session.scalar(select(func.count()).select_from(JourneyEntry).where(
            JourneyEntry.customer_id == customer_id, JourneyEntry.journey == "loyalty_signup_abandonment"))
    assert entries == 2


async def test_members_who_revisit_the_page_are_not_asked_to_join(api: Api, sessions: Any, customer_id: str) -> None:
    """#27: a member (she signed up, or the shop's trait says so) looks at the page again:
    no run, no email. Leaving the programme (the trait false) makes her welcome again."""
    signed, flagged = f"{customer_id}-signed", f"{customer_id}-flagged"
    await known(api, signed)
    await api.track(signed, "Loyalty Signed Up")
    await api.post("/v1/identify", {"userId": flagged, "traits": {"email": f"{flagged}@mail.test",
                                                                  "loyalty_member": True}})
    for who in (signed, flagged):
        await api.page(who, name="Loyalty", properties={"path": "/loyalty"})

    async def runs(who: str) -> int:
        async with sessions() as session:
            return await session.scalar(select(func.count()).select_from(JourneyRun).where(
                JourneyRun.customer_id == who, JourneyRun.journey == "loyalty_signup_abandonment")) or 0

    assert (await runs(signed), await runs(flagged)) == (0, 0)
    facts = (await api.operator("GET", f"/v1/customers/{flagged}")).json()["facts"]
    assert facts["loyalty_member_at"] is not None
    await api.post("/v1/identify", {"userId": flagged, "traits": {"loyalty_member": False}})
    await api.page(flagged, name="Loyalty", properties={"path": "/loyalty"})
    assert await runs(flagged) == 1
    await journey(api, flagged).terminate("test over")
