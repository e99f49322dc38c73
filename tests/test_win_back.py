"""Win-back for past customers over simulated weeks: her last order turns 60 days old
and the Schedule's sweep finds her; on her best channel she gets what she may like;
no order a week later, a coupon; an order ends it and converts. One in ten is held
out and gets nothing, so the lift over the holdout is measured (worked out by hand
below). Shoppers who never ordered, or ordered lately, never enter. The coupon goes only to
those unlikely to come back by themselves: not to a likely buyer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from temporalio.testing import WorkflowEnvironment

from sojourn.analytics import kpis
from sojourn.coupons import pools
from sojourn.ground.models import CouponCode, Customer, Event, ExperimentAssignment, JourneyRun
from sojourn.ground.schedules import ensure_schedules
from sojourn.ground.settings import Settings
from tests.conftest import SERVER_KEY, Api, keep_history, open_api
from tests.support.push_receiver import PushReceiver
from tests.support.smtp import Inbox
from tests.test_engagement import taps_pushes
from tests.test_recommendations import refresh, shop
from tests.test_segment_sweep import sweep
from worker import build_worker, watched
from workflows.journeys.win_back import WinBack
from workflows.kit.experiments import CONTROL, assign
from workflows.registry import JOURNEYS
from workflows.segments import LAPSE

Lapse = Callable[..., Awaitable[None]]


def treated(tag: str) -> str:
    """A customer id the holdout leaves in the journey."""
    return next(c for c in (f"{tag}-{n}" for n in range(100)) if variant_of(c) != CONTROL)


def variant_of(customer_id: str) -> str:
    return assign(customer_id, "win_back", {"win_back": 1.0}, 0.1)


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as opened:
        yield opened


@pytest.fixture
async def lapse(env: WorkflowEnvironment, api: Api, settings: Settings) -> AsyncIterator[Lapse]:
    """Their last order, backfilled so that it turns 60 days old in a moment; the sweep
    before and the sweep after (the Temporal Schedule make dev runs every hour)."""
    schedule_id = f"sweep-{uuid.uuid4()}"
    await ensure_schedules(env.client, settings, watched(JOURNEYS), schedule_id=schedule_id,
                           recommendations_id=None, audiences_id=None)

    async def lapsing(*customers: str, recent: tuple[str, ...] = (), products: list[dict] | None = None) -> None:
        ordered = datetime.now(UTC) - LAPSE + timedelta(seconds=2)
        for n, customer in enumerate(customers):
            await api.track(customer, "Order Completed", {"order_id": f"old-{customer}-{n}", "revenue": 40,
                                                          "products": products or []},
                            timestamp=ordered.isoformat())
        for customer in recent:  # ordered ten days later: not lapsed yet
            await api.track(customer, "Order Completed", {"order_id": f"recent-{customer}", "revenue": 40},
                            timestamp=(ordered + timedelta(days=10)).isoformat())
        await sweep(api.client, schedule_id)
        await asyncio.sleep(max((ordered + LAPSE - datetime.now(UTC)).total_seconds(), 0) + 0.2)
        swept = await sweep(api.client, schedule_id)
        assert swept["joined"]["lapsed"] >= len(customers), swept
        await api.settled()

    try:
        yield lapsing
    finally:
        await env.client.get_schedule_handle(schedule_id).delete()


async def stock(sessions: Any, count: int = 10) -> None:
    async with sessions() as session:
        await pools.generate(session, "win_back", count, prefix="BACK-")
        await session.commit()


async def test_the_whole_story(env: WorkflowEnvironment, api: Api, settings: Settings, sessions: Any,
                               inbox: Inbox, lapse: Lapse, customer_id: str) -> None:
    ids = await shop(api, customer_id)
    await refresh(api, settings)
    await stock(sessions)
    ada = treated(customer_id)
    await api.post("/v1/identify", {"userId": ada, "traits": {"email": f"{ada}@mail.test", "firstName": "Ada"}})
    await lapse(ada, products=[{"product_id": ids["serum"], "name": "Glow Serum"}])
    handle = api.client.get_workflow_handle(WinBack.spec.workflow_id(ada))

    await env.fast_forward(handle, timedelta(minutes=1))
    [miss] = inbox.to(ada)
    assert miss["Subject"] == "We miss you, Ada"
    body = miss.get_body(("plain",)).get_content()
    timeline = " ".join((await handle.query("state"))["timeline"])
    # What goes with her last order (the serum): the toner first, never the serum itself.
    assert f"You may like:\r\n- Rose Toner: https://beauty.test/p/{ids['toner']}" in body, body
    assert f"/p/{ids['serum']}" not in body
    assert "experiment win_back: win_back" in timeline and "best channel: email (" in timeline, timeline

    # Her click on it carries the run: journey, step, and the run's variant.
    link = body.split("See what's new: ")[1].split()[0]
    assert (await api.follow(link)).status_code == 302
    async with sessions() as session:
        [click] = (await session.scalars(select(Event.properties).where(
            Event.customer_id == ada, Event.name == "Message Clicked"))).all()
    assert {k: click[k] for k in ("journey", "step", "workflow_id", "variants")} == {
        "journey": "win_back", "step": "we_miss_you", "workflow_id": WinBack.spec.workflow_id(ada),
        "variants": {"win_back": "win_back"}}, click

    await env.fast_forward(handle, timedelta(days=6, hours=23))
    assert len(inbox.to(ada)) == 1, "a week for her to come back on her own"
    await env.fast_forward(handle, timedelta(hours=2))
    coupon = inbox.to(ada)[-1]
    assert coupon["Subject"] == "Ada, a treat to welcome you back"
    assert "Your code: BACK-" in coupon.get_body(("plain",)).get_content()

    await api.track(ada, "Order Completed", {"order_id": f"back-{ada}", "revenue": 55})
    result = await handle.result()
    assert (result["outcome"], result["converted"]) == ("exited", True), result
    assert result["sends"] == {"we_miss_you": "sent", "coupon": "sent"}, result
    await keep_history(handle, "win_back_whole_story")


async def test_the_holdout_measures_the_lift(env: WorkflowEnvironment, api: Api, sessions: Any, inbox: Inbox,
                                             lapse: Lapse, customer_id: str) -> None:
    await stock(sessions)
    candidates = [f"{customer_id}-{n}" for n in range(200)]
    held = [c for c in candidates if variant_of(c) == CONTROL][:2]
    reached = [c for c in candidates if variant_of(c) != CONTROL][:4]
    never, lately = f"{customer_id}-never", f"{customer_id}-lately"
    for c in [*held, *reached, never, lately]:
        await api.post("/v1/identify", {"userId": c, "traits": {"email": f"{c}@mail.test"}})
    await api.track(never, "Product Viewed", {"product_id": "p-1"})
    await lapse(*held, *reached, recent=(lately,))
    handles = {c: api.client.get_workflow_handle(WinBack.spec.workflow_id(c)) for c in [*held, *reached]}
    for handle in handles.values():
        await env.fast_forward(handle, timedelta(minutes=1))
    assert all(len(inbox.to(c)) == 1 for c in reached), "the journey's customers hear from it"
    assert all(inbox.to(c) == [] for c in held), "the holdout gets nothing"
    for c in held:
        assert "holdout: nothing sent" in " ".join((await handles[c].query("state"))["timeline"])
    async with sessions() as session:
        runs = set((await session.scalars(select(JourneyRun.customer_id).where(
            JourneyRun.journey == "win_back", JourneyRun.customer_id.in_([never, lately])))).all())
    assert runs == set(), "never ordered, or ordered within 60 days: not lapsed"

    # One of the two held out comes back on her own; three of the four reached do.
    for c in (held[0], *reached[:3]):
        await api.track(c, "Order Completed", {"order_id": f"back-{c}", "revenue": 30})
    for c in (held[1], reached[3]):
        await env.fast_forward(handles[c], timedelta(days=31))

    # By hand: the journey 3/4 = 75%, the holdout 1/2 = 50%: a lift of 25 points.
    async with sessions() as session:
        measured = await kpis.measure(session, WinBack.spec)
        variants = dict((await session.execute(select(ExperimentAssignment.customer_id, ExperimentAssignment.variant)
                                               .where(ExperimentAssignment.journey == "win_back",
                                                      ExperimentAssignment.customer_id.in_(held + reached)))).all())
    assert variants == {c: variant_of(c) for c in held + reached}
    [goal] = [g for g in kpis.declared(WinBack.spec) if g.kpi == "conversion rate"]
    mine = {e.customer_id: e.id for e in measured.entries if e.customer_id in held + reached}
    rate = {}
    for group, who in (("control", held), ("win_back", reached)):
        base = measured.base(goal, [mine[c] for c in who])
        rate[group] = (sum(1 for i in base if i in measured.outcomes[goal.kpi]), len(base))
    assert rate == {"control": (1, 2), "win_back": (3, 4)}

    stats = (await api.operator("GET", "/v1/journeys/win_back/stats")).json()
    [test] = [e for e in stats["experiments"] if e["experiment"] == "win_back"]
    assert test["reference"] == "control" and {"variant": "win_back", "kpi": "conversion rate"}.items() <= \
        next(row for row in test["lift"] if row["kpi"] == "conversion rate").items()


async def test_her_best_channel_with_email_as_the_fallback(env: WorkflowEnvironment, api: Api, sessions: Any,
                                                           inbox: Inbox, push_service: PushReceiver,
                                                           lapse: Lapse, customer_id: str) -> None:
    """She taps pushes and ignores emails: push. Her browser is gone by the coupon: email."""
    await stock(sessions)
    mia = treated(customer_id)
    browser = await taps_pushes(api, sessions, push_service, mia)
    await lapse(mia)
    handle = api.client.get_workflow_handle(WinBack.spec.workflow_id(mia))
    await env.fast_forward(handle, timedelta(minutes=1))
    assert [d.payload["title"] for d in push_service.to(mia)] == ["We miss you"]
    assert inbox.to(mia) == []

    deleted = await api.http.delete(f"/v1/customers/{mia}/push-subscriptions",
                                    params={"endpoint": browser["endpoint"]},
                                    auth=(SERVER_KEY, ""))
    assert deleted.status_code == 204, deleted.text
    await env.fast_forward(handle, timedelta(days=7, minutes=1))
    [mail] = inbox.to(mia)
    assert mail["Subject"] == "Mia, a treat to welcome you back"
    assert "Your code: BACK-" in mail.get_body(("plain",)).get_content()
    state = await handle.query("state")
    assert state["sends"] == {"we_miss_you": "sent", "coupon": "skipped", "coupon.email": "sent"}, state


async def test_the_coupon_is_spent_only_on_those_unlikely_to_come_back(
        env: WorkflowEnvironment, api: Api, sessions: Any, inbox: Inbox, lapse: Lapse, customer_id: str) -> None:
    """The likelihood model's run gives one lapsed customer 80% and the other 5%: both
    hear "we miss you"; a week later only the unlikely one gets a code."""
    await stock(sessions)
    likely, unlikely = treated(f"{customer_id}-likely"), treated(f"{customer_id}-unlikely")
    for who in (likely, unlikely):
        await api.post("/v1/identify", {"userId": who, "traits": {"email": f"{who}@mail.test", "firstName": "Eve"}})
    await lapse(likely, unlikely)
    async with sessions() as session:  # as the model's last run stored them (tests/test_likelihood.py trains one)
        for who, chance in ((likely, 0.8), (unlikely, 0.05)):
            await session.execute(update(Customer).where(Customer.id == who).values(purchase_likelihood=chance))
        await session.commit()
    handles = {who: api.client.get_workflow_handle(WinBack.spec.workflow_id(who)) for who in (likely, unlikely)}
    for handle in handles.values():
        await env.fast_forward(handle, timedelta(days=7, minutes=1))
    assert [m["Subject"] for m in inbox.to(unlikely)] == ["We miss you, Eve", "Eve, a treat to welcome you back"]
    assert [m["Subject"] for m in inbox.to(likely)] == ["We miss you, Eve"], "no code for a likely buyer"
    state = await handles[likely].query("state")
    assert state["sends"] == {"we_miss_you": "sent"}, state
    assert "coupon: kept: she is likely to come back by herself" in " ".join(state["timeline"]), state["timeline"]
    async with sessions() as session:
        issued = (await session.scalars(select(CouponCode.customer_id).where(
            CouponCode.offer == "win_back", CouponCode.customer_id.in_([likely, unlikely])))).all()
    assert issued == [unlikely], "the pool spends nothing on her"
    await env.fast_forward(handles[likely], timedelta(days=31))
    await keep_history(handles[likely], "win_back_likely_buyer_keeps_the_coupon")
