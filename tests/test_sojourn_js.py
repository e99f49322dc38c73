"""sojourn.js in headless Chromium, on a shop page of its own origin: it shows her
on-site messages, reports impressions, clicks and dismissals, keeps to each
placement's frequency, and can't be made to inject markup."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from temporalio.testing import WorkflowEnvironment

from api.proof import customer_token
from sojourn.ground.models import Customer, Event, OnsiteMessage, utcnow
from sojourn.ground.settings import Settings
from tests.conftest import IDENTITY_SECRET, WRITE_KEY
from tests.support.browser import Shop, shop_and_api, signed_in

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Beauty Shop</title><script src="{api}/v1/sojourn.js"></script></head>
<body><h1>New in</h1><div data-sojourn-placement="referral_prompt"></div></body></html>"""


@pytest.fixture
async def shop(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Shop]:
    api_origin: dict[str, str] = {}

    async def page(_: Any) -> HTMLResponse:
        return HTMLResponse(PAGE.format(api=api_origin["url"]))

    async def landing(_: Any) -> Response:
        return HTMLResponse("<h1>Landed</h1>")

    shop_app = Starlette(routes=[Route("/", page), Route("/new", landing)])
    async with shop_and_api(shop_app, settings, env.client, onsite_frequency="greeting_bar=2/24h") as opened:
        api_origin["url"] = opened.api
        yield opened


async def a_message(sessions: Any, customer_id: str, placement: str, content: dict[str, Any]) -> int:
    async with sessions() as session:
        if await session.get(Customer, customer_id) is None:
            session.add(Customer(id=customer_id, traits={}, created_at=utcnow(), updated_at=utcnow()))
        row = OnsiteMessage(customer_id=customer_id, placement=placement, journey="first_purchase_incentive",
                            step="greeting_bar", content=content, created_at=utcnow(),
                            idempotency_key=f"js-{uuid.uuid4()}")
        session.add(row)
        await session.commit()
        return row.id


async def counts(sessions: Any, message_id: int) -> tuple[int, int, bool]:
    async with sessions() as session:
        row = await session.get(OnsiteMessage, message_id, populate_existing=True)
        return row.impressions, row.clicks, row.acknowledged_at is not None


async def open_shop(shop: Shop, init: dict[str, Any], context: Any = None) -> Any:
    """A page view of the shop; in `context` (a browser's storage) or a new one."""
    context = context or await shop.browser.new_context()
    page = await context.new_page()
    await page.goto(shop.shop + "/")
    shown = await page.evaluate("options => Sojourn.init(options).then(s => s.map(m => m.placement))",
                                {"host": shop.api, "writeKey": WRITE_KEY, **init})
    return context, page, shown


async def test_her_greeting_bar_shows_counts_and_goes_when_dismissed(shop: Shop, sessions: Any,
                                                                    customer_id: str) -> None:
    bar = await a_message(sessions, customer_id, "greeting_bar",
                          {"text": "Welcome! 15% off <img src=x onerror=alert(1)>", "url": shop.shop + "/new",
                           "sticky": True})
    slot = await a_message(sessions, customer_id, "referral_prompt",
                           {"text": "Give a friend a treat", "referral_code": "LISA-42", "url": "javascript:alert(1)"})
    signed_in = {"userId": customer_id, "token": customer_token(customer_id, IDENTITY_SECRET)}
    context, page, shown = await open_shop(shop, signed_in)
    try:
        assert sorted(shown) == ["greeting_bar", "referral_prompt"]
        assert await page.text_content(".sojourn-bar .sojourn-text") == "Welcome! 15% off <img src=x onerror=alert(1)>"
        assert await page.query_selector(".sojourn-bar img") is None, "text, never markup"
        assert await page.text_content("[data-sojourn-placement=referral_prompt] code") == "LISA-42"
        assert await page.query_selector("[data-sojourn-placement=referral_prompt] a") is None, "no javascript: link"
        await page.wait_for_function("1", timeout=500)
        await page.click(".sojourn-bar .sojourn-close")
        assert await page.query_selector(".sojourn-bar") is None
    finally:
        await context.close()
    for _ in range(100):  # the browser reports the dismissal on its own time
        if (await counts(sessions, bar))[2]:
            break
        await asyncio.sleep(0.05)
    assert await counts(sessions, bar) == (1, 0, True), "one impression, dismissed"
    assert (await counts(sessions, slot))[0] == 1
    context, page, shown = await open_shop(shop, signed_in)
    await context.close()
    assert shown == ["referral_prompt"], "a dismissed bar stays gone"
    async with sessions() as session:
        names = (await session.scalars(select(Event.name).where(Event.customer_id == customer_id)
                                       .order_by(Event.id))).all()
    assert names.count("Onsite Message Viewed") == 3 and names.count("Onsite Message Dismissed") == 1, names


async def test_a_click_is_counted_and_lands_on_the_offer(shop: Shop, sessions: Any, customer_id: str) -> None:
    bar = await a_message(sessions, customer_id, "greeting_bar", {"text": "See what's new", "url": shop.shop + "/new"})
    context, page, shown = await open_shop(shop, {"userId": customer_id,
                                                 "token": customer_token(customer_id, IDENTITY_SECRET)})
    try:
        assert shown == ["greeting_bar"]
        async with page.expect_navigation():
            await page.click(".sojourn-bar a")
        assert page.url == shop.shop + "/new"
    finally:
        await context.close()
    assert (await counts(sessions, bar))[:2] == (1, 1)


async def test_a_visitor_sees_hers_before_signing_in_and_each_placement_keeps_its_frequency(
        shop: Shop, sessions: Any) -> None:
    anon = f"anon-{uuid.uuid4().hex}"
    await a_message(sessions, f"anonymous:{anon}", "greeting_bar", {"text": "Welcome! 15% off your first order"})
    shown = []
    browser = await shop.browser.new_context()  # her browser keeps its anonymous token
    try:
        for _ in range(3):  # greeting_bar=2/24h: the third page view shows no bar
            _, page, on_page = await open_shop(shop, {"anonymousId": anon}, browser)
            shown.append(on_page)
            await page.close()
    finally:
        await browser.close()
    assert shown == [["greeting_bar"], ["greeting_bar"], []]
    async with sessions() as session:
        views = await session.scalar(select(func.count()).select_from(Event).where(
            Event.customer_id == f"anonymous:{anon}", Event.name == "Onsite Message Viewed"))
    assert views == 2
    # Another browser claiming the same anonymous id gets no token, so nothing of hers.
    context = await shop.browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(shop.shop + "/")
        outcome = await page.evaluate("""options => Sojourn.init(options).then(() => "shown", e => "refused: " + e)""",
                                      {"host": shop.api, "writeKey": WRITE_KEY, "anonymousId": anon})
    finally:
        await context.close()
    assert outcome.startswith("refused") and "409" in outcome, outcome


async def test_the_first_purchase_greeting_bar_shows_and_goes_once_she_orders(
        shop: Shop, sessions: Any, worker: Any, customer_id: str) -> None:
    """The guide's first-purchase incentive, end to end: she views a serum, the journey
    leaves its greeting bar, sojourn.js draws it; she orders and it is gone."""
    import httpx

    from tests.conftest import SERVER_KEY, basic

    backend = {"Authorization": basic(SERVER_KEY)}
    signed_in = {"userId": customer_id, "token": customer_token(customer_id, IDENTITY_SECRET)}
    async with httpx.AsyncClient(base_url=shop.api, headers=backend) as http:
        viewed = {"userId": customer_id, "event": "Product Viewed", "messageId": str(uuid.uuid4()),
                  "properties": {"product_id": "serum-9", "name": "Glow Serum", "price": 32}}
        assert (await http.post("/v1/track", json=viewed)).status_code == 200

        async def bars() -> list[Any]:  # as the API would serve her (no impression counted)
            return (await http.get(f"/v1/customers/{customer_id}/messages",
                                   params={"placement": "greeting_bar"})).json()

        for _ in range(200):
            if await bars():
                break
            await asyncio.sleep(0.05)
        context, page, shown = await open_shop(shop, signed_in)
        try:
            assert shown == ["greeting_bar"]
            assert await page.text_content(".sojourn-bar .sojourn-text") == \
                "Welcome! 15% off your first order — just for you."
            assert await page.eval_on_selector(".sojourn-bar", "bar => getComputedStyle(bar).position") == "sticky"
        finally:
            await context.close()

        order = {"userId": customer_id, "event": "Order Completed", "messageId": str(uuid.uuid4()),
                 "properties": {"order_id": f"o-{customer_id}", "revenue": 32,
                                "products": [{"product_id": "serum-9", "quantity": 1, "price": 32}]}}
        assert (await http.post("/v1/track", json=order)).status_code == 200
        for _ in range(200):
            if not await bars():
                break
            await asyncio.sleep(0.05)
    context, page, shown = await open_shop(shop, signed_in)
    await context.close()
    assert shown == [], "her order withdrew the bar"


async def test_the_wheel_takes_her_email_and_issues_one_coupon(shop: Shop, sessions: Any, customer_id: str) -> None:
    """The spin-to-win popup: email and consent first, the draw on the server, one
    coupon whatever she tries next."""
    from sojourn.coupons import pools
    from sojourn.ground.models import CouponCode

    async with sessions() as session:
        for offer in ("wheel_10", "wheel_15", "wheel_shipping", "wheel_25"):
            await pools.generate(session, offer, 3, prefix=f"JS{offer[-2:].upper()}-")
        await session.commit()
    wheel = await a_message(sessions, customer_id, "spin_to_win", {
        "wheel": "first_order", "title": "Spin to win", "text": "Your email, then spin.", "button": "Spin the wheel",
        "consent_text": "Yes, email me news and offers."})
    signed_in = {"userId": customer_id, "token": customer_token(customer_id, IDENTITY_SECRET)}
    context, page, shown = await open_shop(shop, signed_in)
    try:
        assert shown == ["spin_to_win"]
        await page.wait_for_selector(".sojourn-slices li")  # the labels, from the API
        assert await page.text_content(".sojourn-slices li") == "10% off your first order"
        await page.fill(".sojourn-popup input[type=email]", f"{customer_id}@mail.test")
        await page.click(".sojourn-popup button[type=submit]")
        assert await page.query_selector(".sojourn-code") is None, "no spin without her consent (the form says so)"
        await page.check(".sojourn-popup input[name=consent]")
        await page.click(".sojourn-popup button[type=submit]")
        code = await (await page.wait_for_selector(".sojourn-code")).text_content()
        assert (await page.text_content(".sojourn-won")).startswith("You won: ")
        # A second try, from the same page: the same outcome, no second coupon.
        again = await page.evaluate("email => Sojourn.spin('first_order', email, true)", f"x-{customer_id}@mail.test")
        assert (again["coupon"]["code"], again["repeat"]) == (code, True)
    finally:
        await context.close()
    async with sessions() as session:
        mine = (await session.scalars(select(CouponCode.code).where(CouponCode.customer_id == customer_id))).all()
    assert mine == [code]
    for _ in range(50):
        if (await counts(sessions, wheel))[2]:
            break
        await asyncio.sleep(0.05)
    assert await counts(sessions, wheel) == (1, 1, True), "seen once, spun (a click), then put away"
    context, page, shown = await open_shop(shop, signed_in)
    await context.close()
    assert shown == [], "she is not asked again"


async def test_a_friend_landing_through_a_referral_link_gets_her_welcome(
        shop: Shop, sessions: Any, settings: Settings, worker: Any, customer_id: str) -> None:
    """The referral, from the friend's side, in the browser: Lisa's link lands a new
    visitor on the store with ?ref=; sojourn.js tells Sojourn, and her welcome code
    shows at once. Lisa opening her own link counts for nothing."""
    import httpx

    from sojourn.coupons import pools
    from sojourn.ground.signing import load_signer
    from sojourn.links.referrals import referral_code
    async with sessions() as session:
        await pools.generate(session, "referral_friend", 2, prefix="FRIEND-")
        await session.commit()
    signer = await load_signer(sessions, settings)
    code = referral_code(signer, customer_id)
    async with httpx.AsyncClient(base_url=shop.api) as http:
        link = await http.get(f"/v1/r/{code}")
    assert link.status_code == 302 and link.headers["location"].endswith(f"/?ref={code}")

    async def landings(who: str) -> int:
        async with sessions() as session:
            return await session.scalar(select(func.count()).select_from(Event).where(
                Event.customer_id == who, Event.name == "Referral Link Opened")) or 0

    context = await shop.browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{shop.shop}/?ref={code}")
        await page.evaluate("options => Sojourn.init(options)", {"host": shop.api, "writeKey": WRITE_KEY})
        await page.wait_for_selector(".sojourn-bar .sojourn-text", timeout=10_000)
        text = await page.text_content(".sojourn-bar .sojourn-text")
        assert text.startswith("A friend sent you a treat: FRIEND-"), text
        await page.reload()  # she comes back through the same link: one landing
        await page.evaluate("options => Sojourn.init(options)", {"host": shop.api, "writeKey": WRITE_KEY})
    finally:
        await context.close()
    assert await landings(customer_id) == 1

    own, _ = await signed_in(shop, f"/?ref={code}", customer_id)
    await own.close()
    assert await landings(customer_id) == 1, "her own link: no referral"
