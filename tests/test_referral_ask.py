"""Post-delivery referral ask: one run per order, a few days after delivery, with a signed link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Event
from sojourn.ground.settings import Settings
from sojourn.ground.signing import load_signer
from sojourn.links.referrals import read_referral_code
from tests.conftest import Api, keep_history, open_api
from tests.support.smtp import Inbox
from workflows.journeys.referral_ask import ReferralAsk


def run_for(api: Api, customer_id: str, order_id: str):  # noqa: ANN201
    return api.client.get_workflow_handle_for(ReferralAsk.run, f"referral_ask:{customer_id}:{order_id}")


async def test_three_days_after_delivery_she_is_asked_to_refer(env: WorkflowEnvironment, api: Api, worker: Any,
                                                               inbox: Inbox, sessions: Any, settings: Settings,
                                                               customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Order Delivered", {"order_id": "o-1"})
    handle = run_for(api, customer_id, "o-1")
    await env.fast_forward(handle, timedelta(days=2, hours=23))
    assert inbox.to(customer_id) == []
    await env.fast_forward(handle, timedelta(hours=2))
    [mail] = inbox.to(customer_id)
    assert mail["Subject"] == "Share the love: 10% off for you and a friend"
    text = mail.get_body(("plain",)).get_content()
    code = text.split("Your referral code: ")[1].split()[0]
    assert "(o-1)" in text
    link = text.split("Your link: ")[1].split()[0]
    assert (await api.follow(link)).headers["location"] == f"https://sojourn.test/v1/r/{code}"
    signer = await load_signer(sessions, settings)
    assert read_referral_code(signer, code) == customer_id
    assert read_referral_code(signer, code[:-2] + "xx") is None, "a tampered code is refused"
    # A friend opens the shared link: the store gets the code, her journey the event.
    opened = await api.http.get(f"/v1/r/{code}")
    assert (opened.status_code, opened.headers["location"]) == (302, f"https://beauty.test/?ref={code}")
    await api.settled()
    async with sessions() as session:
        [event] = (await session.scalars(select(Event).where(Event.customer_id == customer_id,
                                                             Event.name == "Referral Link Opened"))).all()
    assert event.properties == {"referral_code": code}

    await api.track(customer_id, "Referral Sent", {"friend_email": "ana@mail.test"})
    result = await handle.result()
    assert result.converted and result.sends == {"email_referral": "sent"}
    await keep_history(handle, "referral_ask_story")


async def test_one_run_per_order_and_a_referral_meanwhile_ends_them_all(env: WorkflowEnvironment, api: Api,
                                                                       worker: Any, inbox: Inbox,
                                                                       customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Order Delivered", {"order_id": "o-1"})
    await api.track(customer_id, "Order Delivered", {"order_id": "o-2"})
    await api.track(customer_id, "Order Delivered", {"order_id": "o-2"})  # same order again: same run
    first, second = run_for(api, customer_id, "o-1"), run_for(api, customer_id, "o-2")
    assert (await second.query("state"))["events"] == 2
    await env.fast_forward(first, timedelta(days=1))
    # "Referral Sent" has no order_id: it reaches every run of hers.
    await api.track(customer_id, "Referral Sent")
    for handle in (first, second):
        result = await handle.result()
        assert (result.outcome, result.exit_event, result.sends) == ("exited", "Referral Sent", {})
    assert inbox.to(customer_id) == []


async def test_a_delivery_without_order_id_does_not_enter(env: WorkflowEnvironment, api: Api, worker: Any,
                                                          customer_id: str) -> None:
    await api.track(customer_id, "Order Delivered", {})
    listed = [w async for w in api.client.list_workflows(f'WorkflowId = "referral_ask:{customer_id}:"')]
    assert listed == []


async def test_the_delay_and_incentive_are_settings(env: WorkflowEnvironment, settings: Settings, worker: Any,
                                                    inbox: Inbox, customer_id: str) -> None:
    tuned = settings.model_copy(update={"referral_delay_days": 5, "referral_incentive": "a free mascara each"})
    async with open_api(tuned, env.client) as api:
        await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
        await api.track(customer_id, "Order Delivered", {"order_id": "o-9"})
        handle = run_for(api, customer_id, "o-9")
        await env.fast_forward(handle, timedelta(days=4, hours=12))
        assert inbox.to(customer_id) == []
        await env.fast_forward(handle, timedelta(days=1))
    [mail] = inbox.to(customer_id)
    assert mail["Subject"] == "Share the love: a free mascara each"
