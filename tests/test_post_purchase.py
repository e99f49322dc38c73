"""Post-purchase for first-time buyers over simulated weeks: a thank-you with an offer
the next day, a cross-sell of what goes with her order a week in, one replenishment
reminder per product when it should run low, skipped if she reordered it; a second
order is the conversion (her first one, which entered her, is not)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sojourn.coupons import pools
from sojourn.ground.settings import Settings
from tests.conftest import SERVER_KEY, Api, keep_history, open_api
from tests.support.push_receiver import PushReceiver
from tests.support.smtp import Inbox
from tests.test_engagement import taps_pushes
from tests.test_recommendations import refresh, shop
from worker import build_worker
from workflows.journeys.post_purchase import PostPurchase


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, settings, sessions), open_api(settings, env.client) as opened:
        yield opened


def subjects(inbox: Inbox, who: str) -> list[str]:
    return [m["Subject"] for m in inbox.to(who)]


async def test_the_whole_story(env: WorkflowEnvironment, api: Api, settings: Settings, sessions: Any,
                               inbox: Inbox, customer_id: str) -> None:
    ids = await shop(api, customer_id)  # serum goes with toner
    await refresh(api, settings)
    async with sessions() as session:
        await pools.generate(session, "second_order", 5, prefix="NEXT-")
        await session.commit()
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                      "firstName": "Mila"}})
    await api.track(customer_id, "Order Completed", {"order_id": f"first-{customer_id}", "revenue": 56, "products": [
        {"product_id": ids["serum"], "name": "Glow Serum", "replenish_days": 30},
        {"product_id": ids["mascara"], "name": "Volume Mascara", "replenish_days": 14},
        {"product_id": ids["lipstick"], "name": "Velvet Lipstick"}]})
    handle = api.client.get_workflow_handle(PostPurchase.spec.workflow_id(customer_id))

    await env.fast_forward(handle, timedelta(days=1, minutes=1))
    assert subjects(inbox, customer_id) == ["Thank you, Mila: a treat for your next order"]
    assert "Your code: NEXT-" in inbox.to(customer_id)[0].get_body(("plain",)).get_content()
    state = await handle.query("state")
    assert state["converted"] is False, "her first order entered her; it is not the conversion"

    await env.fast_forward(handle, timedelta(days=6))  # a week in: what goes with her order
    cross = inbox.to(customer_id)[-1]
    assert cross["Subject"] == "Mila, these go well with your order"
    assert "- Rose Toner: https://beauty.test/p/" in cross.get_body(("plain",)).get_content()

    await env.fast_forward(handle, timedelta(days=7))  # two weeks in: the mascara runs low
    assert subjects(inbox, customer_id)[-1] == "Running low on Volume Mascara?"

    # She reorders the serum before it runs low: its reminder is skipped, and that is the conversion.
    await api.track(customer_id, "Order Completed", {"order_id": f"second-{customer_id}", "revenue": 32,
                                                     "products": [{"product_id": ids["serum"]}]})
    await env.fast_forward(handle, timedelta(days=17))
    assert len(inbox.to(customer_id)) == 3, subjects(inbox, customer_id)
    state = await handle.query("state")
    assert state["converted"] is True and state["step"] == "completed"
    assert any(f"replenish {ids['serum']}: skipped: she reordered it" in line for line in state["timeline"])
    result = await handle.result()  # all done by day 31: the story is over and she converted
    assert result["sends"] == {"thank_you_offer": "sent", "cross_sell": "sent",
                               f"replenish:{ids['mascara']}": "sent"}, result
    await keep_history(handle, "post_purchase_whole_story")


async def test_a_repeat_buyer_does_not_enter_again(api: Api, customer_id: str) -> None:
    for n in range(2):
        await api.track(customer_id, "Order Completed", {"order_id": f"o{n}-{customer_id}"})
    runs = [j["journey"] for j in (await api.operator("GET", f"/v1/customers/{customer_id}")).json()["journeys"]]
    assert runs.count("post_purchase") == 1


async def test_a_second_order_ends_the_offers_it_made_pointless(env: WorkflowEnvironment, api: Api, sessions: Any,
                                                                inbox: Inbox, customer_id: str) -> None:
    """She orders again within the day: no next-order offer and no cross-sell (and no
    code spent on her); the reminder for what she has not reordered still comes."""
    async with sessions() as session:
        await pools.generate(session, "second_order", 2, prefix="NEXT-")
        await session.commit()
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Order Completed", {"order_id": f"first-{customer_id}", "products": [
        {"product_id": f"cream-{customer_id}", "name": "Night Cream", "replenish_days": 20}]})
    handle = api.client.get_workflow_handle(PostPurchase.spec.workflow_id(customer_id))
    await env.fast_forward(handle, timedelta(hours=5))
    await api.track(customer_id, "Order Completed", {"order_id": f"second-{customer_id}", "products": [
        {"product_id": f"brush-{customer_id}", "name": "Brush"}]})
    await env.fast_forward(handle, timedelta(days=21))
    assert subjects(inbox, customer_id) == ["Running low on Night Cream?"]
    state = await handle.query("state")
    assert state["converted"] is True
    for line in ("next-order offer: skipped: she ordered again", "cross-sell: skipped: she ordered again"):
        assert any(line in entry for entry in state["timeline"]), state["timeline"]
    assert state["sends"] == {f"replenish:cream-{customer_id}": "sent"}, state
    assert (await handle.result())["outcome"] == "completed", "her last reminder ended it: she had converted"
    await keep_history(handle, "post_purchase_second_order_ends_offers")


async def test_how_long_a_product_lasts_comes_from_the_catalog_too(env: WorkflowEnvironment, api: Api,
                                                                   settings: Settings, inbox: Inbox,
                                                                   customer_id: str) -> None:
    """The order lines say nothing of how long they last: the product feed says the cream
    lasts 20 days, the backend's product event that the oil lasts 25; the line's own
    figure wins over the catalog's (the balm: 12, not the feed's 40)."""
    cream, oil, balm = (f"{name}-{customer_id}" for name in ("cream", "oil", "balm"))
    for product, days in ((cream, 20), (balm, 40)):
        fed = await api.http.put(f"/v1/products/{product}", json={"name": product.split("-")[0].title(),
                                                                   "replenish_days": days},
                                 auth=(SERVER_KEY, ""))
        assert fed.status_code == 204, fed.text
    assert (await api.http.put(f"/v1/products/{cream}", json={"replenish_days": 0},
                               auth=(SERVER_KEY, ""))).status_code == 400, "a day at least"
    await api.track(f"viewer-{customer_id}", "Product Viewed", {"product_id": oil, "name": "Oil", "replenish_days": 25})
    await refresh(api, settings)
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Order Completed", {"order_id": f"first-{customer_id}", "products": [
        {"product_id": cream, "name": "Cream"}, {"product_id": oil, "name": "Oil"},
        {"product_id": balm, "name": "Balm", "replenish_days": 12}]})
    handle = api.client.get_workflow_handle(PostPurchase.spec.workflow_id(customer_id))
    await env.fast_forward(handle, timedelta(days=26))
    # Each reminder when its product runs low, counted from her order (the sends may
    # meet the real-time frequency cap here: weeks pass in seconds).
    timeline = (await handle.query("state"))["timeline"]
    entered = datetime.fromisoformat(timeline[0][:19])
    due = {line.split(" ")[2].split(":")[1]: (datetime.fromisoformat(line[:19]) - entered).days
           for line in timeline if " replenish:" in line}
    assert due == {balm: 12, cream: 20, oil: 25}, "\n".join(timeline)
    assert subjects(inbox, customer_id)[-1] == "Running low on Balm?"


async def test_her_best_channel_with_email_as_the_fallback(env: WorkflowEnvironment, api: Api, settings: Settings,
                                                           sessions: Any, inbox: Inbox, push_service: PushReceiver,
                                                           customer_id: str) -> None:
    """She taps pushes and ignores emails: her offer, cross-sell and reminder come by push;
    once her browser is gone, the next one comes by email."""
    ids = await shop(api, customer_id)
    await refresh(api, settings)
    async with sessions() as session:
        await pools.generate(session, "second_order", 2, prefix="NEXT-")
        await session.commit()
    browser = await taps_pushes(api, sessions, push_service, customer_id)
    await api.track(customer_id, "Order Completed", {"order_id": f"first-{customer_id}", "products": [
        {"product_id": ids["serum"], "name": "Glow Serum", "replenish_days": 10},
        {"product_id": ids["mascara"], "name": "Volume Mascara", "replenish_days": 14}]})
    handle = api.client.get_workflow_handle(PostPurchase.spec.workflow_id(customer_id))

    await env.fast_forward(handle, timedelta(days=1, minutes=1))
    [offer] = push_service.to(customer_id)
    assert offer.payload["title"] == "Thank you, Mia!" and "code NEXT-" in offer.payload["body"]
    await env.fast_forward(handle, timedelta(days=9))  # the cross-sell a week in, the serum at ten days
    assert [d.payload["title"] for d in push_service.to(customer_id)] == [
        "Thank you, Mia!", "These go well with your order", "Running low on Glow Serum?"]
    assert inbox.to(customer_id) == []
    timeline = " ".join((await handle.query("state"))["timeline"])
    assert "best channel: push (" in timeline, timeline

    gone = await api.http.delete(f"/v1/customers/{customer_id}/push-subscriptions",
                                 params={"endpoint": browser["endpoint"]}, auth=(SERVER_KEY, ""))
    assert gone.status_code == 204
    await env.fast_forward(handle, timedelta(days=5))
    assert subjects(inbox, customer_id) == ["Running low on Volume Mascara?"]
    state = await handle.query("state")
    assert state["sends"][f"replenish:{ids['mascara']}.email"] == "sent", state["sends"]
    assert state["sends"][f"replenish:{ids['mascara']}"] == "skipped", state["sends"]
