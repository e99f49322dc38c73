"""Post-delivery referral ask: one run per order, a few days after delivery, with a signed link."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from sojourn.coupons import pools
from sojourn.ground.models import Event
from sojourn.ground.settings import Settings
from sojourn.ground.signing import load_signer
from sojourn.links.referrals import read_referral_code, referral_code
from tests.conftest import WRITE_KEY, Api, basic, browser_of, keep_history, open_api
from tests.support.smtp import Inbox
from tests.test_kpi_definitions import enter, rate
from tests.test_onsite_experiments import shown
from workflows.journeys.referral_ask import ReferralAsk
from workflows.journeys.referral_reward import ReferralReward
from workflows.journeys.referral_welcome import ReferralWelcome


async def stock(sessions: Any) -> None:
    async with sessions() as session:
        await pools.generate(session, "referral_friend", 3, prefix="FRIEND-")
        await pools.generate(session, "referral_reward", 3, prefix="THANKS-")
        await session.commit()


async def visitor_of(api: Api, anonymous_id: str) -> dict[str, str]:
    """A visitor's browser: the write key and the anonymous token its first claim got."""
    claimed = await api.http.post("/v1/browser/anonymous-token", json={"anonymousId": anonymous_id},
                                  headers={"Authorization": basic(WRITE_KEY)})
    assert claimed.status_code == 201, claimed.text
    return {"Authorization": basic(WRITE_KEY), "X-Sojourn-Token": claimed.json()["token"]}


def run_for(api: Api, customer_id: str, order_id: str):  # noqa: ANN201
    return api.client.get_workflow_handle_for(ReferralAsk.run, f"referral_ask:{customer_id}:{order_id}")


async def test_three_days_after_delivery_she_is_asked_to_refer(env: WorkflowEnvironment, api: Api, worker: Any,
                                                               inbox: Inbox, sessions: Any, settings: Settings,
                                                               customer_id: str) -> None:
    await stock(sessions)
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
    # The guide promotes it on the site too: her link in the shop's referral slot.
    [prompt] = await shown(api, customer_id, "referral_prompt")
    assert prompt["content"]["referral_code"] == code
    assert (await api.follow(prompt["content"]["url"])).headers["location"] == f"https://sojourn.test/v1/r/{code}"

    # She opens her own link: the store gets the code, and nothing counts.
    opened = await api.http.get(f"/v1/r/{code}")
    assert (opened.status_code, opened.headers["location"]) == (302, f"https://beauty.test/?ref={code}")
    own = await api.http.post(f"/v1/customers/{customer_id}/referral", json={"code": code},
                              headers=browser_of(customer_id))
    assert own.json() == {"referred": False, "reason": "her own referral link"}
    assert (await handle.describe()).status.name == "RUNNING"

    # A friend lands through it (a visitor, proving her browser's anonymous id).
    friend = f"friend-{customer_id}"
    visitor = await visitor_of(api, friend)
    landed = await api.http.post(f"/v1/customers/{friend}/referral", json={"code": code}, headers=visitor)
    assert landed.json() == {"referred": True}
    again = await api.http.post(f"/v1/customers/{friend}/referral", json={"code": code}, headers=visitor)
    assert again.json() == {"referred": True}, "she comes back through it: counted once"
    await api.settled()
    async with sessions() as session:
        [event] = (await session.scalars(select(Event).where(Event.customer_id == customer_id,
                                                             Event.name == "Referral Link Opened"))).all()
    assert event.properties == {"friend": f"anonymous:{friend}", "referral_code": code}
    result = await handle.result()
    assert (result.outcome, result.converted) == ("completed", True), result
    assert result.sends == {"email_referral": "sent", "referral_prompt": "sent"}
    await keep_history(handle, "referral_ask_story")

    # Her welcome: a first-order code on the site at once.
    [welcome] = await shown(api, f"anonymous:{friend}", "greeting_bar")
    friend_code = welcome["content"]["code"]
    assert friend_code.startswith("FRIEND-") and friend_code in welcome["content"]["text"]
    # She signs up and orders: her friend is credited, and rewarded.
    await api.post("/v1/identify", {"userId": f"ana-{customer_id}", "anonymousId": friend,
                                    "traits": {"email": f"ana-{customer_id}@mail.test"}})
    await api.track(f"ana-{customer_id}", "Order Completed", {"order_id": f"ana-{customer_id}-1", "revenue": 42,
                                                              "coupon": friend_code})
    welcome_run = api.client.get_workflow_handle(ReferralWelcome.spec.workflow_id(f"anonymous:{friend}"))
    done = await welcome_run.result()
    assert done["converted"], done
    await keep_history(welcome_run, "referral_welcome_story")
    await api.settled()  # the credit the worker stored, routed by the API's router
    reward = api.client.get_workflow_handle(
        ReferralReward.spec.workflow_id(customer_id, f"anonymous:{friend}"))
    rewarded = await reward.result()
    assert rewarded["sends"] == {"reward": "sent"}, rewarded
    await keep_history(reward, "referral_reward_story")
    [thanks] = [m for m in inbox.to(customer_id) if "your friend ordered" in m["Subject"]]
    assert "Your code: THANKS-" in thanks.get_body(("plain",)).get_content()
    async with sessions() as session:
        [credit] = (await session.scalars(select(Event).where(Event.customer_id == customer_id,
                                                              Event.name == "Referral Converted"))).all()
    assert credit.properties == {"friend": f"anonymous:{friend}", "order_id": f"ana-{customer_id}-1", "revenue": 42}


async def test_a_browser_cannot_credit_itself_a_referral(api: Api, customer_id: str) -> None:
    for name in ("Referral Converted", "Referral Link Opened", "Referral Visited"):
        body = {"userId": customer_id, "event": name, "properties": {"friend": "x"}, "messageId": str(uuid.uuid4())}
        refused = await api.http.post("/v1/track", json=body, headers=browser_of(customer_id))
        assert refused.status_code == 403 and "recorded by Sojourn itself" in refused.text, refused.text
    bad = await api.http.post(f"/v1/customers/{customer_id}/referral", json={"code": "nope"},
                              headers=browser_of(customer_id))
    assert bad.status_code == 400 and "code" in bad.text
    stranger = await api.http.post(f"/v1/customers/{customer_id}/referral", json={"code": "nope"},
                                   headers={"Authorization": basic(WRITE_KEY)})
    assert stranger.status_code == 403, "who landed must be proven"


async def test_the_referral_rates_count_what_sojourn_sees(api: Api, sessions: Any, customer_id: str) -> None:
    """Ten asked: four had their link opened by someone else within 14 days (one of
    them also opened it herself, which is no referral), two of those friends ordered
    within 30 days; one shop-reported 'Referral Sent' is not a referral Sojourn saw. By
    hand: referral rate 4/10, referral conversion rate 2/10."""
    who = [f"{customer_id}-{n}" for n in range(10)]
    ids = await enter(sessions, "referral_ask", who)
    for c in who[:4]:
        await api.track(c, "Referral Link Opened", {"friend": f"anonymous:f-{c}"})
    for c in who[:2]:
        await api.track(c, "Referral Converted", {"friend": f"anonymous:f-{c}", "order_id": f"o-{c}"})
    await api.track(who[5], "Referral Sent", {"friend_email": "x@mail.test"})
    assert await rate(sessions, "referral_ask", "referral rate", ids) == (4, 10)
    assert await rate(sessions, "referral_ask", "referral conversion rate", ids) == (2, 10)


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


async def test_a_link_already_opened_leaves_nothing_to_ask(env: WorkflowEnvironment, api: Api, worker: Any,
                                                           inbox: Inbox, sessions: Any, settings: Settings,
                                                           customer_id: str) -> None:
    """Her link (from an earlier order's ask) is opened by a friend during the three days:
    this ask is not sent, and the run counts the referral."""
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    await api.track(customer_id, "Order Delivered", {"order_id": "o-2"})
    handle = run_for(api, customer_id, "o-2")
    code = referral_code(await load_signer(sessions, settings), customer_id)
    friend = f"friend-{customer_id}"
    landed = await api.http.post(f"/v1/customers/{friend}/referral", json={"code": code},
                                 headers=await visitor_of(api, friend))
    assert landed.json() == {"referred": True}
    await api.settled()
    await env.fast_forward(handle, timedelta(days=3, hours=1))
    result = await handle.result()
    assert (result.outcome, result.converted, result.sends) == ("completed", True, {}), result
    assert inbox.to(customer_id) == []
