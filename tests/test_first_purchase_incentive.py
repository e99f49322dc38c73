"""The first-purchase incentive, over simulated days: a greeting bar for shoppers who
never bought, a unique coupon by email two days later, and the bar withdrawn when she
orders. A repeat buyer never enters; an anonymous visitor who identifies gets her email."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from sojourn.coupons import pools
from sojourn.ground.models import CouponCode, JourneyEntry, JourneyRun
from sojourn.ground.settings import Settings
from tests.conftest import Api, keep_history, open_api, reader_of
from tests.support.conversions import conversions
from tests.support.journeys import CouponProbe
from tests.support.smtp import Inbox
from worker import build_worker
from workflows.journeys.first_purchase_incentive import FirstPurchaseIncentive
from workflows.registry import JOURNEYS

SERUM = {"product_id": "serum-9", "name": "Glow Serum", "price": 32.0}


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    """The shop's journeys with the first-purchase incentive, and a worker that runs it."""
    async with build_worker(env.client, settings, sessions, extra_workflows=[CouponProbe]), \
            open_api(settings, env.client, journeys=(*JOURNEYS, CouponProbe)) as opened:
        yield opened


async def stock(sessions: Any, count: int = 20) -> None:
    async with sessions() as session:
        await pools.generate(session, "first_order", count, prefix="FIRST-", length=8)
        await session.commit()


async def bar(api: Api, who: str, expect: int | None = None) -> list[dict[str, Any]]:
    """The greeting bar the storefront would show her; with `expect`, waits (the run
    sends it a moment after the event is routed) until that many are there."""
    for _ in range(200):
        headers = reader_of(who)
        response = await api.http.get(f"/v1/customers/{who}/messages", params={"placement": "greeting_bar"},
                                      headers=headers)
        assert response.status_code == 200, response.text
        if expect is None or len(response.json()) == expect:
            break
        await asyncio.sleep(0.05)
    return response.json()


def code_in(mail: Any) -> str:
    found = re.search(r"Your code: (FIRST-\w+)", mail.get_body(("plain",)).get_content())
    assert found, mail
    return found.group(1)


async def test_the_whole_story(env: WorkflowEnvironment, api: Api, inbox: Inbox, sessions: Any,
                               customer_id: str) -> None:
    await stock(sessions)
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                      "firstName": "Mia"}})
    await api.track(customer_id, "Product Viewed", SERUM)
    handle = api.client.get_workflow_handle(FirstPurchaseIncentive.spec.workflow_id(customer_id))

    # At once: the sticky greeting bar with the first-order offer.
    [shown] = await bar(api, customer_id, expect=1)
    assert shown["content"]["sticky"] is True
    assert shown["content"]["text"] == "Welcome! 15% off your first order — just for you."

    # Two days later, no order yet: her own code by email.
    await env.fast_forward(handle, timedelta(days=1, hours=23))
    assert inbox.to(customer_id) == [], "not before two days"
    await env.fast_forward(handle, timedelta(hours=2))
    [mail] = inbox.to(customer_id)
    assert mail["Subject"] == "Mia, your code for 15% off your first order"
    code = code_in(mail)
    async with sessions() as session:
        issued = await session.scalar(select(CouponCode).where(CouponCode.code == code))
    assert (issued.state, issued.customer_id) == ("assigned", customer_id)

    # She orders with her code: the journey ends, the bar comes down, the code is used.
    await api.track(customer_id, "Order Completed", {"order_id": "o-1", "revenue": 32.0, "coupon": code})
    result = await handle.result()
    assert (result["outcome"], result["converted"]) == ("exited", True), result
    assert await bar(api, customer_id, expect=0) == [], "the bar is withdrawn with the run"
    async with sessions() as session:
        assert (await session.scalar(select(CouponCode.state).where(CouponCode.code == code))) == "redeemed"
        assert await conversions(session, FirstPurchaseIncentive.spec, customer_id) == 1
    await keep_history(handle, "first_purchase_incentive_whole_story")

    # She is not a first-time shopper any more: another view starts nothing.
    await api.track(customer_id, "Product Viewed", SERUM)
    async with sessions() as session:
        runs = await session.scalar(select(func.count()).select_from(JourneyRun).where(
            JourneyRun.customer_id == customer_id, JourneyRun.journey == "first_purchase_incentive"))
    assert runs == 1


async def test_a_repeat_buyer_never_enters(api: Api, sessions: Any, customer_id: str) -> None:
    async def entries() -> int:
        response = await api.operator("GET", "/v1/journeys/first_purchase_incentive/stats")
        assert response.status_code == 200, response.text
        return response.json()["entries"]

    before = await entries()
    await api.track(customer_id, "Order Completed", {"order_id": "o-1", "revenue": 20.0})
    await api.track(customer_id, "Product Viewed", SERUM)
    assert await bar(api, customer_id) == []
    async with sessions() as session:
        for table in (JourneyRun, JourneyEntry):
            assert await session.scalar(select(func.count()).select_from(table).where(
                table.customer_id == customer_id, table.journey == "first_purchase_incentive")) == 0
    assert await entries() == before, "not in the KPI's denominator"


async def test_an_anonymous_visitor_who_identifies_gets_her_code(env: WorkflowEnvironment, api: Api,
                                                                inbox: Inbox, sessions: Any,
                                                                customer_id: str) -> None:
    await stock(sessions)
    anon = f"anon-{customer_id}"
    response = await api.post("/v1/track", {"anonymousId": anon, "event": "Product Viewed", "properties": SERUM})
    assert response.status_code == 200
    handle = api.client.get_workflow_handle(FirstPurchaseIncentive.spec.workflow_id(f"anonymous:{anon}"))
    assert len(await bar(api, f"anonymous:{anon}", expect=1)) == 1, "the bar shows for the visitor"

    await env.fast_forward(handle, timedelta(hours=30))
    await api.post("/v1/identify", {"userId": customer_id, "anonymousId": anon,
                                    "traits": {"email": f"{customer_id}@mail.test", "firstName": "Ana"}})
    assert len(await bar(api, customer_id)) == 1, "and for her once she is known"
    await env.fast_forward(handle, timedelta(hours=20))
    [mail] = inbox.to(customer_id)
    assert code_in(mail).startswith("FIRST-")


async def test_an_empty_pool_skips_the_send_with_its_reason(api: Api, sessions: Any, inbox: Inbox,
                                                            customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    async with sessions() as session:
        await pools.import_codes(session, f"one-{customer_id}", [(f"{customer_id}-ONLY", None)])
        await session.commit()
    await api.track(customer_id, "Coupon Probe", {"offer": f"one-{customer_id}"})
    first = api.client.get_workflow_handle(CouponProbe.spec.workflow_id(customer_id))
    await first.result()
    timeline = " ".join((await first.query("state"))["timeline"])
    assert "same: True" in timeline, "one code per run and slot, asked twice"
    [mail] = inbox.to(customer_id)
    assert f"{customer_id}-ONLY" in mail.get_body(("plain",)).get_content()

    await api.track(customer_id, "Coupon Probe", {"offer": f"one-{customer_id}"})  # a second run: dry
    second = api.client.get_workflow_handle(CouponProbe.spec.workflow_id(customer_id))
    result = await second.result()
    assert result["sends"] == {"coupon_email": "skipped"}, result
    timeline = " ".join((await second.query("state"))["timeline"])
    assert f"coupon_email: email skipped (coupon pool 'one-{customer_id}' is empty)" in timeline, timeline
    await keep_history(second, "probe_coupon_pool_empty")
    assert len(inbox.to(customer_id)) == 1


async def test_a_code_goes_only_to_someone_an_email_reaches(env: WorkflowEnvironment, api: Api, sessions: Any,
                                                            customer_id: str) -> None:
    """#26.6: every anonymous "Product Viewed" got a code two days later, with nobody to
    send it to: one batch of fake views emptied the pool. Now no code is taken."""
    await stock(sessions)
    fakes = [f"fake-{customer_id}-{n}" for n in range(2)]
    batch = {"batch": [{"type": "track", "anonymousId": fake, "event": "Product Viewed", "properties": SERUM,
                        "messageId": f"{fake}-view"} for fake in fakes], "writeKey": "test-write-key"}
    assert (await api.http.post("/v1/b", json=batch)).status_code == 200
    await api.settled(*[m["messageId"] for m in batch["batch"]])
    for fake in fakes:
        handle = api.client.get_workflow_handle(FirstPurchaseIncentive.spec.workflow_id(f"anonymous:{fake}"))
        await env.fast_forward(handle, timedelta(days=2, hours=1))
        state = await handle.query("state")
        assert state["sends"].get("coupon_email") == "skipped", state
        assert any("coupon first_order: none (no email address" in line for line in state["timeline"]), state
    async with sessions() as session:
        taken = await session.scalar(select(func.count()).select_from(CouponCode).where(
            CouponCode.customer_id.in_([f"anonymous:{fake}" for fake in fakes])))
    assert taken == 0, "no code for nobody"


async def test_only_her_own_redemption_of_her_code_is_hers(env: WorkflowEnvironment, api: Api, inbox: Inbox,
                                                         sessions: Any, customer_id: str) -> None:
    """#26.6: `redeem` never checked who a code was issued to. Another customer's order
    with her code uses the code up, is recorded as his, and is not her conversion."""
    await stock(sessions)
    mallory = f"mallory-{customer_id}"
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Product Viewed", SERUM)
    handle = api.client.get_workflow_handle(FirstPurchaseIncentive.spec.workflow_id(customer_id))
    await env.fast_forward(handle, timedelta(days=2, hours=1))
    code = code_in(inbox.to(customer_id)[0])
    await api.track(mallory, "Order Completed", {"order_id": f"o-{mallory}", "revenue": 32.0, "coupon": code})
    async with sessions() as session:
        used = await session.scalar(select(CouponCode).where(CouponCode.code == code))
        assert (used.state, used.customer_id, used.redeemed_by) == ("redeemed", customer_id, mallory)
    state = await handle.query("state")
    assert state["step"] != "completed" and not state.get("converted"), state
    report = (await api.operator("GET", "/v1/coupons")).json()["pools"]
    assert next(p for p in report if p["offer"] == "first_order")["redeemed_by_others"] >= 1
    async with sessions() as session:
        assert await conversions(session, FirstPurchaseIncentive.spec, customer_id) == 0


async def test_a_shopper_who_never_opens_a_product_page_gets_the_bar(api: Api, customer_id: str) -> None:
    """#27: she enters on any page of the site (the home page, a blog post), as the guide
    shows the bar to every never-purchased shopper on the site; once, as ever."""
    await api.page(customer_id, name="Home", properties={"path": "/"})
    [shown] = await bar(api, customer_id, expect=1)
    assert shown["content"]["text"] == "Welcome! 15% off your first order — just for you."
    await api.page(customer_id, name="Blog", properties={"path": "/blog"})
    runs = [j["journey"] for j in (await api.operator("GET", f"/v1/customers/{customer_id}")).json()["journeys"]]
    assert runs.count("first_purchase_incentive") == 1
    handle = api.client.get_workflow_handle(FirstPurchaseIncentive.spec.workflow_id(customer_id))
    await handle.terminate("test over")
