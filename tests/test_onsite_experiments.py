"""On-site A/B tests over simulated time: the registration page's 50/50 test for
first-time visitors (signup rate per variant) and the app banner's test on the order
success page on mobile web (banner click-through, click-to-install). Assignment is by
visitor: her anonymous id before she signs in, and the same variant after."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Customer, Event, utcnow
from sojourn.ground.settings import Settings
from sojourn.pipeline.router import device_of
from tests.conftest import Api, browser_of, keep_history, open_api, reader_of
from worker import build_worker
from workflows.journeys.app_banner_experiment import AppBannerTest
from workflows.journeys.registration_page_experiment import RegistrationPageTest
from workflows.kit.experiments import assign

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.0 Mobile/15E148 Safari/604.1")
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
HALVES = {"a": 0.5, "b": 0.5}
# What the registration page's variants show: content (templates/onsite/registration_hero.json).
VARIANTS = {"a": {"title": "Create your account", "button": "Sign up", "image": "/img/register-a.jpg"},
            "b": {"title": "Join and get 10% off your first order", "button": "Join now",
                  "image": "/img/register-b.jpg"}}

# What each banner says: content (templates/onsite/app_banner.json, the first version).
BANNERS = {
    "a": {"title": "Beauty Shop app", "text": "Track this order in the app.", "button": "Get the app"},
    "b": {"title": "10% off your next order", "text": "In the app, on your next order.", "button": "Install"},
}


ON_TOP = """() => {
  const banner = document.querySelector('.sojourn-banner').getBoundingClientRect();
  const others = [...document.body.querySelectorAll('body > *')].filter(
      e => !e.classList.contains('sojourn-banner') && e.getBoundingClientRect().height > 0);
  return document.body.firstElementChild.classList.contains('sojourn-banner')
      && others.every(e => e.getBoundingClientRect().top >= banner.bottom - 1)
      && banner.width >= document.body.clientWidth - 1;
}"""


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as opened:
        yield opened


async def shown(api: Api, who: str, placement: str, expect: int = 1) -> list[dict[str, Any]]:
    for _ in range(200):
        headers = reader_of(who)
        response = await api.http.get(f"/v1/customers/{who}/messages", params={"placement": placement},
                                      headers=headers)
        assert response.status_code == 200, response.text
        if len(response.json()) == expect:
            break
        await asyncio.sleep(0.05)
    return response.json()


async def visit(api: Api, path: str, *, anonymous_id: str | None = None, user_id: str | None = None,
                agent: str = DESKTOP) -> None:
    body = {"messageId": str(uuid.uuid4()), "name": path, "properties": {"path": path},
            "context": {"userAgent": agent, "library": {"name": "analytics.js", "version": "next-1.84.3"}}}
    body |= {"anonymousId": anonymous_id} if anonymous_id else {}
    body |= {"userId": user_id} if user_id else {}
    assert (await api.post("/v1/page", body)).status_code == 200


def test_the_device_is_read_from_what_the_sdk_sent() -> None:
    assert device_of({"userAgent": IPHONE}) == "mobile"
    assert device_of({"userAgent": DESKTOP}) == "desktop"
    assert device_of({"userAgentData": {"mobile": True, "platform": "Android"}, "userAgent": DESKTOP}) == "mobile"
    assert device_of({"device": {"type": "ios"}}) == "mobile"
    assert device_of({"device": {"type": "desktop"}, "userAgent": IPHONE}) == "desktop"
    assert [device_of(c) for c in ({}, None, {"userAgent": 7}, {"device": "phone"}, [])] == ["", "", "", "", ""]


async def test_first_time_visitors_split_on_the_registration_page(env: WorkflowEnvironment, api: Api,
                                                                  customer_id: str) -> None:
    visitors = [f"anon-{customer_id}-{n}" for n in range(12)]
    for anon in visitors:
        await visit(api, "/register", anonymous_id=anon)
    got = {}
    for anon in visitors:
        [hero] = await shown(api, f"anonymous:{anon}", "registration_hero")
        variant = assign(anon, "registration_page", HALVES)  # by her anonymous id
        assert hero["content"]["title"] == VARIANTS[variant]["title"]
        assert hero["content"]["button"] == VARIANTS[variant]["button"]
        assert hero["content"]["image"] == f"https://beauty.test{VARIANTS[variant]['image']}"
        assert hero["content"]["variant"] == variant
        got[anon] = variant
    assert set(got.values()) == {"a", "b"}, "both variants run"

    # Some sign up (the goal); the stats give the signup rate per variant.
    signed = visitors[:5]
    for n, anon in enumerate(signed):
        await api.post("/v1/identify", {"userId": f"{anon}-u", "anonymousId": anon, "messageId": str(uuid.uuid4())})
        await api.track(f"{anon}-u", "Signed Up", {"method": "email"}, anonymousId=anon)
    for anon in signed:
        handle = api.client.get_workflow_handle(RegistrationPageTest.spec.workflow_id(f"anonymous:{anon}"))
        result = await handle.result()
        assert (result["outcome"], result["converted"]) == ("exited", True), result
    await keep_history(api.client.get_workflow_handle(RegistrationPageTest.spec.workflow_id(f"anonymous:{signed[0]}")),
                       "registration_page_test_signed_up")
    stats = (await api.operator("GET", "/v1/journeys/registration_page_test/stats")).json()
    assert stats["kpi"] == "signup rate"
    mine = {v: sum(1 for a in visitors if got[a] == v) for v in "ab"}
    won = {v: sum(1 for a in signed if got[a] == v) for v in "ab"}
    [test] = [e for e in stats["experiments"] if e["experiment"] == "registration_page"]
    per_variant = {row["variant"]: {k["kpi"]: k for k in row["kpis"]} | {"entries": row["entries"]}
                   for row in test["variants"]}
    for v in "ab":  # the test's own visitors are among them
        signup = per_variant[v]["signup rate"]
        assert per_variant[v]["entries"] >= mine[v] and signup["conversions"] >= won[v]
        assert signup["interval"][0] <= signup["rate"] <= signup["interval"][1]


async def test_the_app_reads_the_same_slot_from_its_register_screen(api: Api, customer_id: str) -> None:
    """The app (Segment's mobile SDK) sends a screen; the same test, the same content,
    read from the same API."""
    anon = f"app-{customer_id}"
    body = {"anonymousId": anon, "name": "Register", "messageId": str(uuid.uuid4()),
            "context": {"app": {"name": "Beauty Shop"}, "device": {"type": "ios"}}}
    assert (await api.post("/v1/screen", body)).status_code == 200
    [hero] = await shown(api, f"anonymous:{anon}", "registration_hero")
    variant = assign(anon, "registration_page", HALVES)
    assert (hero["content"]["variant"], hero["content"]["title"]) == (variant, VARIANTS[variant]["title"])


async def test_a_returning_visitor_is_not_in_the_test(api: Api, sessions: Any, customer_id: str) -> None:
    anon = f"anon-{customer_id}"
    await visit(api, "/", anonymous_id=anon)
    async with sessions() as session:  # her first visit was an hour ago
        await session.execute(update(Customer).where(Customer.id == f"anonymous:{anon}").values(
            first_seen_at=utcnow() - timedelta(hours=1)))
        await session.commit()
    await visit(api, "/register", anonymous_id=anon)
    await asyncio.sleep(0.3)
    assert await shown(api, f"anonymous:{anon}", "registration_hero", expect=0) == []


async def test_she_keeps_her_variant_once_she_signs_in(env: WorkflowEnvironment, api: Api,
                                                       customer_id: str) -> None:
    """The app banner's variant, for a customer who first came as a visitor, follows
    that visitor's id, not her user id (picked so that the two would differ)."""
    anon = next(a for a in (f"anon-{customer_id}-{n}" for n in range(100))
                if assign(a, "app_banner", HALVES) != assign(customer_id, "app_banner", HALVES))
    await visit(api, "/", anonymous_id=anon, agent=IPHONE)
    await api.post("/v1/identify", {"userId": customer_id, "anonymousId": anon, "messageId": str(uuid.uuid4())})
    # Later, a page view the shop's server sends with her user id alone.
    await visit(api, "/checkout/success", user_id=customer_id, agent=IPHONE)
    [banner] = await shown(api, customer_id, "smart_banner")
    assert banner["content"]["title"] == BANNERS[assign(anon, "app_banner", HALVES)]["title"]
    state = await api.client.get_workflow_handle(AppBannerTest.spec.workflow_id(customer_id)).query("state")
    assert state["variants"] == {"app_banner": assign(anon, "app_banner", HALVES)}


async def test_the_app_banner_counts_installs_after_a_tap(env: WorkflowEnvironment, api: Api,
                                                          customer_id: str) -> None:
    # On a desktop the order success page shows no banner.
    await visit(api, "/checkout/success", user_id=f"{customer_id}-desk")
    await asyncio.sleep(0.3)
    assert await shown(api, f"{customer_id}-desk", "smart_banner", expect=0) == []

    # On her phone: the banner, a tap, then the app installed: click-to-install.
    await visit(api, "/checkout/success", user_id=customer_id, agent=IPHONE)
    [banner] = await shown(api, customer_id, "smart_banner")
    assert banner["content"]["url"].startswith("https://apps.apple.com/")
    assert banner["content"]["button"] in {b["button"] for b in BANNERS.values()}
    tapped = await api.http.post(f"/v1/customers/{customer_id}/messages/{banner['id']}/clicked",
                                 headers=browser_of(customer_id))
    assert tapped.status_code == 204
    await api.settled()
    # The tap carries the run it came from: journey, step, and the run's variant.
    async with api.sessions() as session:
        [tap] = (await session.scalars(select(Event.properties).where(
            Event.customer_id == customer_id, Event.name == "Onsite Message Clicked"))).all()
    assert {k: tap[k] for k in ("journey", "step", "workflow_id", "variants")} == {
        "journey": "app_banner_test", "step": "app_banner",
        "workflow_id": AppBannerTest.spec.workflow_id(customer_id),
        "variants": {"app_banner": assign(customer_id, "app_banner", HALVES)}}, tap
    handle = api.client.get_workflow_handle(AppBannerTest.spec.workflow_id(customer_id))
    # Routed is not yet seen: a run that took the tap and the install in one activation
    # exits before its story notes the tap. She installs once the run has seen it.
    for _ in range(200):
        if any("banner: tapped" in line for line in (await handle.query("state"))["timeline"]):
            break
        await asyncio.sleep(0.05)
    await api.track(customer_id, "Application Installed", {"version": "3.2"})
    result = await asyncio.wait_for(handle.result(), 60)
    assert (result["outcome"], result["converted"]) == ("exited", True), result
    assert any("banner: tapped" in line for line in (await handle.query("state"))["timeline"])
    await keep_history(handle, "app_banner_test_tapped_and_installed")

    # Installed without tapping the banner: not the banner's install.
    other = f"{customer_id}-2"
    await visit(api, "/checkout/success", user_id=other, agent=IPHONE)
    assert len(await shown(api, other, "smart_banner")) == 1
    await api.track(other, "Application Installed", {"version": "3.2"})
    result = await api.client.get_workflow_handle(AppBannerTest.spec.workflow_id(other)).result()
    assert (result["outcome"], result["converted"]) == ("exited", False), result
    described = AppBannerTest.spec.describe()
    assert described["goal"]["kpi"] == "click-to-install rate"
    assert described["goal"]["after"]["name"] == "Onsite Message Clicked"
    assert [g["kpi"] for g in described["also_measures"]] == ["banner click-through rate", "new mobile users"]


# The order success page as a shop serves it: Segment's analytics.js tracks the page
# view (which starts the banner's test), sojourn.js watches for the banner.
SUCCESS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Thank you</title><script src="/sdk/index.js"></script></head>
<body><h1>Thank you for your order</h1></body></html>"""
SHOP_SCRIPT = """async ([api, writeKey, userId, token]) => {
  const headers = () => ({"X-Sojourn-Token": token});
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({writeKey, cdnURL: api},
    {integrations: {"Segment.io": {deliveryStrategy: {strategy: "standard", config: {headers}}}}});
  await analytics.identify(userId);
  await analytics.page();
  await new Promise((ok, no) => { const s = document.createElement("script"); s.src = api + "/v1/sojourn.js";
                                  s.onload = ok; s.onerror = no; document.head.appendChild(s); });
  await Sojourn.init({host: api, writeKey, userId, token, watch: ["smart_banner"]});
  return analytics.user().anonymousId();
}"""


async def test_the_banner_variant_shows_on_her_phone(env: WorkflowEnvironment, settings: Settings, sessions: Any,
                                                     customer_id: str) -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from sojourn.ground.signing import customer_token
    from tests.conftest import IDENTITY_SECRET, WRITE_KEY
    from tests.support.browser import sdk_dir, shop_and_api

    async def page(_: Any) -> HTMLResponse:
        return HTMLResponse(SUCCESS_PAGE)

    shop_app = Starlette(routes=[Route("/checkout/success", page), Mount("/sdk", StaticFiles(directory=sdk_dir()))])
    async with build_worker(env.client, settings, sessions), shop_and_api(shop_app, settings, env.client) as shop:
        phone = await shop.browser.new_context(user_agent=IPHONE, viewport={"width": 390, "height": 844},
                                               is_mobile=True, has_touch=True)
        try:
            tab = await phone.new_page()
            await tab.goto(shop.shop + "/checkout/success")
            anonymous_id = await tab.evaluate(SHOP_SCRIPT, [shop.api, WRITE_KEY, customer_id,
                                                            customer_token(customer_id, IDENTITY_SECRET)])
            banner = await tab.wait_for_selector(".sojourn-banner strong", timeout=15_000)
            # Her variant: by the anonymous id her first call came with (a new browser, a new customer).
            variant = assign(anonymous_id, "app_banner", HALVES)
            assert await banner.text_content() == BANNERS[variant]["title"]
            assert await tab.text_content(".sojourn-banner .sojourn-button") == BANNERS[variant]["button"]
            # At the top of the mobile page, as the guide puts it: above everything on it
            # (the greeting bar included), across its width.
            assert await tab.evaluate(ON_TOP), await tab.content()
        finally:
            await phone.close()
