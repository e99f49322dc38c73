"""make dev's demo shop (sojourn/demoshop) in headless Chromium: Lisa's story as a
newcomer clicks it. The page tracks through Segment's real analytics-next, the
lead-capture wheel takes her email and gives her a code, the first-purchase
greeting bar appears after she looks at a lipstick, the cart's web
push reaches her browser in the local push inbox and shows on the page, and her
order takes the bar down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from sojourn.coupons import pools
from sojourn.devtools import demoshop
from sojourn.devtools.pushinbox import PushReceiver
from sojourn.ground.models import CouponCode, Event
from sojourn.ground.settings import Settings
from tests.conftest import IDENTITY_SECRET, SERVER_KEY, WRITE_KEY
from tests.support.browser import Shop, sdk_dir, shop_and_api


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The README's demo clock: an hour is a second. The win-back's holdout off: the demo
    # shopper's variant follows analytics.js's random anonymous id.
    return settings.model_copy(update={"time_scale": 3600.0, "journeys": {"win_back": {"holdout": 0.0}}})


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[PushReceiver]:
    receiver = PushReceiver(tmp_path / "push", server_key=SERVER_KEY)
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def demo(env: WorkflowEnvironment, settings: Settings, inbox: PushReceiver, sessions: Any) -> AsyncIterator[Shop]:
    shop_app = demoshop.make_app(api_url="", write_key=WRITE_KEY, identity_secret=IDENTITY_SECRET,
                                 inbox_url=inbox.base_url, sdk_dir=sdk_dir(), server_key=SERVER_KEY)
    async with shop_and_api(shop_app, settings, env.client) as opened:
        shop_app.state.api_url = inbox.sojourn_url = opened.api
        async with sessions() as session:  # make dev stocks its pools, catalog and stories too
            for offer in ("wheel_10", "wheel_15", "wheel_shipping", "wheel_25"):
                await pools.generate(session, offer, 3, prefix="DEMO-")
            await demoshop.stock(session, opened.shop)
            await session.commit()
        yield opened


async def test_a_newcomer_sees_lisas_greeting_bar_and_push_in_the_demo_shop(
        demo: Shop, worker: Any, sessions: Any, inbox: PushReceiver, customer_id: str) -> None:
    context = await demo.browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{demo.shop}/?as={customer_id}")
        await page.wait_for_function("document.getElementById('log').textContent.includes('identify')")
        assert "tracking with analytics.js" in await page.text_content("#log")
        # The marketer's stories, at the top of the home page (make dev stores the demo's).
        await page.wait_for_selector(".sojourn-story", timeout=30_000)
        titles = await page.eval_on_selector_all(".sojourn-story span", "s => s.map(e => e.textContent)")
        assert titles[:4] == ["Winter sale", "Lips", "Skincare", "Eyes"], titles
        assert await page.evaluate("document.querySelector('[data-sojourn-stories]').getBoundingClientRect().top"
                                   " < document.querySelector('main').getBoundingClientRect().top")

        # She is not on the newsletter: the lead-capture wheel pops up. Her email, her consent, a spin.
        await page.wait_for_selector(".sojourn-popup input[type=email]", timeout=30_000)
        await page.fill(".sojourn-popup input[type=email]", f"{customer_id}@mail.test")
        await page.check(".sojourn-popup input[name=consent]")
        await page.click(".sojourn-popup button[type=submit]")
        # The pools are the session database's: an earlier test may have stocked them too.
        shown = (await (await page.wait_for_selector(".sojourn-code")).text_content() or "").strip()
        async with sessions() as session:
            issued = await session.scalar(select(CouponCode).where(CouponCode.code == shown))
        assert issued is not None and issued.offer.startswith("wheel_") and issued.state != "available", shown
        await page.click(".sojourn-popup .sojourn-close")

        # She looks at a lipstick: she has never bought, so the greeting bar offers a first order.
        await page.click("[data-product='lip-42'] .view")
        bar = await page.wait_for_selector(".sojourn-bar .sojourn-text", timeout=30_000)
        assert await bar.text_content() == "Welcome! 15% off your first order — just for you."

        # She allows notifications, adds it to her cart and leaves; an hour later (a second) the push.
        await page.click("#allow-push")
        await page.wait_for_function("document.getElementById('log').textContent.includes('notifications allowed')")
        await page.click("[data-product='lip-42'] .add")
        push = await page.wait_for_selector("#pushes strong", timeout=30_000)
        assert await push.text_content() == "Still thinking it over?"
        assert "Your Velvet Lipstick is waiting in your cart." in await page.text_content("#pushes")
        [delivery] = inbox.deliveries  # checked (VAPID) and decrypted by the inbox
        assert delivery.browser.startswith(f"{customer_id}-")

        # Everything the page sent went through Segment's SDK.
        async with sessions() as session:
            sent = (await session.execute(select(Event.name, Event.type, Event.context).where(
                Event.customer_id == customer_id, Event.type.in_(("track", "identify", "page"))))).all()
        # (Sojourn's own events, the wheel's and sojourn.js's reports, aside.)
        ours = {(name or type_): context.get("library", {}).get("name") for name, type_, context in sent
                if not (name or "").startswith("Onsite Message") and context.get("library", {}).get("name") != "sojourn"}
        assert ours == {"identify": "analytics.js", "Home": "analytics.js", "Product Viewed": "analytics.js",
                        "Product Added": "analytics.js"}, ours

        # She orders: the page reloads and her journeys have taken the bar down.
        async with page.expect_navigation(timeout=20_000):
            await page.click("#order")
        shown = await page.evaluate("""() => new Promise(done => {
          const ask = () => window.Sojourn && Sojourn.customerId() ? Sojourn.show().then(done) : setTimeout(ask, 50);
          ask();
        })""")
        assert shown == [] and await page.query_selector(".sojourn-bar") is None, "her order took the bar down"
    finally:
        await context.close()



async def test_a_past_customer_is_won_back_in_the_demo_shop(demo: Shop, worker: Any, env: WorkflowEnvironment,
                                                            settings: Settings, smtp: Any, customer_id: str) -> None:
    """make dev's win-back, end to end: in the demo shop (Chromium) "she last ordered 60
    days ago"; the segment sweep's Schedule finds she has lapsed; the win-back writes to
    her best channel, her email (the catcher's inbox here)."""
    import asyncio
    import uuid
    from datetime import UTC, datetime

    from sojourn.ground.schedules import ensure_schedules
    from tests.test_segment_sweep import sweep
    from worker import watched
    from workflows.journeys.win_back import WinBack
    from workflows.registry import JOURNEYS

    mail, _ = smtp
    schedule_id = f"sweep-{uuid.uuid4()}"
    await ensure_schedules(env.client, settings, watched(JOURNEYS), schedule_id=schedule_id,
                           recommendations_id=None, audiences_id=None)
    context = await demo.browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{demo.shop}/?as={customer_id}")
        await page.wait_for_function("document.getElementById('log').textContent.includes('identify')")
        await sweep(env.client, schedule_id)  # where sweeping starts
        await page.click("#lapse")
        await page.wait_for_function("document.getElementById('log').textContent.includes('lapses at')")
        lapses = (await page.text_content("#log") or "").split("lapses at ")[1].split(")")[0]
        await asyncio.sleep(max((datetime.fromisoformat(lapses) - datetime.now(UTC)).total_seconds(), 0) + 0.3)
        swept = await sweep(env.client, schedule_id)
        assert swept["joined"]["lapsed"] >= 1, swept
        handle = env.client.get_workflow_handle(WinBack.spec.workflow_id(customer_id))
        for _ in range(400):
            if mail.to(customer_id):
                break
            await asyncio.sleep(0.05)
        [miss] = mail.to(customer_id)
        assert miss["Subject"] == f"We miss you, {customer_id.replace('-', ' ').title()}"
        timeline = " ".join((await handle.query("state"))["timeline"])
        assert "entered on Audience Entered" in timeline and "experiment win_back: win_back" in timeline, timeline
        await handle.terminate("the demo is over")
    finally:
        await context.close()
        await env.client.get_schedule_handle(schedule_id).delete()



async def test_the_apps_banner_is_at_the_top_of_the_demo_shop_on_a_phone(demo: Shop, worker: Any,
                                                                         customer_id: str) -> None:
    from tests.test_onsite_experiments import IPHONE, ON_TOP

    context = await demo.browser.new_context(user_agent=IPHONE, viewport={"width": 390, "height": 844})
    try:
        page = await context.new_page()
        await page.goto(f"{demo.shop}/checkout/success?as={customer_id}")
        await page.wait_for_selector(".sojourn-banner", timeout=30_000)
        assert await page.evaluate(ON_TOP), "above everything, the stories and the header included"
        assert await page.text_content(".sojourn-banner .sojourn-button") in {"Get the app", "Install"}
    finally:
        await context.close()
