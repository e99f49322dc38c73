"""#26.1-3: anonymous ids and user ids never mix. A signed-in attacker can't pre-link
an id a customer will have, nor claim it as his browser's anonymous id: when the shop
later identifies that customer, her cart journey's push and email reach her, never
him. Through the HTTP API with the real roles, with Lisa's real journey running."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Consent, Customer, Identity, PushSubscription
from tests.conftest import WRITE_KEY, Api, basic, browser_of
from tests.support.push_receiver import PushReceiver
from tests.support.smtp import Inbox
from tests.test_cart_abandonment import LIPSTICK, journey

ATTACKER = {"Authorization": basic(WRITE_KEY)}


async def her_cart_journey(env: WorkflowEnvironment, api: Api, victim: str) -> Any:
    """The shop's backend identifies her and she leaves a lipstick in her cart; the
    journey runs a day: the push at 1 h, the email the next day."""
    answer = await api.post("/v1/identify", {"userId": victim, "messageId": str(uuid.uuid4()),
                                             "traits": {"email": f"{victim}@mail.test", "firstName": "Lisa"}})
    assert answer.status_code == 200, answer.text
    await api.track(victim, "Product Added", LIPSTICK)
    handle = journey(api, victim)
    await env.fast_forward(handle, timedelta(hours=25))
    return handle


async def test_a_signed_in_attacker_cant_pre_link_an_id_she_will_have(
        env: WorkflowEnvironment, api: Api, worker: Any, inbox: Inbox, push_service: PushReceiver,
        sessions: Any, customer_id: str) -> None:
    """1. Mallory, with his own customer token, sends identify {userId: mallory,
    anonymousId: <her future user id>}. That id had no row, so it was linked to him,
    and when the shop identified her, her sends went to his address."""
    victim, mallory = f"user-{customer_id}", f"mallory-{customer_id}"
    assert (await api.post("/v1/identify", {"userId": mallory, "traits": {"email": f"{mallory}@evil.test"}})
            ).status_code == 200
    pre_link = {"userId": mallory, "anonymousId": victim, "messageId": str(uuid.uuid4()), "traits": {}}
    answer = await api.http.post("/v1/identify", json=pre_link, headers=browser_of(mallory))
    assert answer.status_code == 200, "his own identify is taken; the link is not made"
    await api.settled(pre_link["messageId"])
    async with sessions() as session:
        assert (await session.scalars(select(Identity.alias_id).where(Identity.customer_id == mallory))).all() == []
    # His browser subscribes to push under the id, too: it is his visitor's, not hers.
    browser = push_service.browser(mallory).subscription(push_service.base_url)
    refused = await api.http.post(f"/v1/customers/{victim}/push-subscriptions", json=browser,
                                  headers=browser_of(mallory))
    assert refused.status_code == 403

    handle = await her_cart_journey(env, api, victim)
    [mail] = inbox.to(f"{victim}@mail.test")
    assert mail["Subject"] == "Lisa, your cart is waiting"
    assert inbox.to(f"{mallory}@evil.test") == [] and push_service.to(mallory) == []
    assert (await handle.query("state"))["sends"]["email_same_day"] == "sent"


async def test_claiming_a_future_user_id_as_an_anonymous_id_gets_nothing_of_hers(
        env: WorkflowEnvironment, api: Api, worker: Any, inbox: Inbox, push_service: PushReceiver,
        sessions: Any, customer_id: str) -> None:
    """2. With the public write key, the attacker claims her future user id as his
    browser's anonymous id, then files a push subscription, an email and consent under
    it. They stayed attached when she appeared: her pushes went to his browser."""
    victim = f"user-{customer_id}"
    claimed = await api.http.post("/v1/browser/anonymous-token", json={"anonymousId": victim}, headers=ATTACKER)
    assert claimed.status_code == 201, "any anonymous id may be claimed: it names a visitor, never her"
    token = {**ATTACKER, "X-Sojourn-Token": claimed.json()["token"]}
    attacker_browser = push_service.browser(f"attacker-{customer_id}").subscription(push_service.base_url)
    filed = await api.http.post(f"/v1/customers/{victim}/push-subscriptions", json=attacker_browser, headers=token)
    assert filed.status_code == 201
    lead = {"anonymousId": victim, "messageId": str(uuid.uuid4()),
            "traits": {"email": f"attacker-{customer_id}@evil.test", "firstName": "Mallory"}}
    assert (await api.http.post("/v1/identify", json=lead, headers=token)).status_code == 200
    spin = await api.http.post(f"/v1/customers/{victim}/wheels/first_order/spin", headers=token,
                               json={"email": f"attacker-{customer_id}@evil.test", "consent": True})
    assert spin.status_code in (200, 404, 409), spin.text

    handle = await her_cart_journey(env, api, victim)
    assert push_service.to(f"attacker-{customer_id}") == [], "her push never reaches his browser"
    [mail] = inbox.to(f"{victim}@mail.test")
    assert mail["Subject"] == "Lisa, your cart is waiting"
    assert inbox.to(f"attacker-{customer_id}@evil.test") == []
    assert (await handle.query("state"))["sends"]["email_same_day"] == "sent"
    async with sessions() as session:
        her = await session.get(Customer, victim)
        assert (her.email, her.first_name) == (f"{victim}@mail.test", "Lisa")
        assert (await session.scalars(select(PushSubscription.customer_id).where(
            PushSubscription.endpoint == attacker_browser["endpoint"]))).all() == [f"anonymous:{victim}"]
        assert (await session.scalars(select(Consent.customer_id).where(Consent.customer_id == victim))).all() == []


async def test_a_browser_links_only_the_anonymous_id_it_proves(api: Api, sessions: Any, customer_id: str) -> None:
    """3. With both proofs her browser's visitor becomes hers; a user id is linked to
    another only by the shop's backend."""
    anonymous_id = f"anon-{uuid.uuid4()}"
    claimed = await api.http.post("/v1/browser/anonymous-token", json={"anonymousId": anonymous_id},
                                  headers=ATTACKER)
    visitor = {**ATTACKER, "X-Sojourn-Token": claimed.json()["token"]}
    await api.post("/v1/track", {"anonymousId": anonymous_id, "event": "Product Viewed",
                                 "messageId": str(uuid.uuid4()), "properties": {"product_id": "lip-42"}},
                   key=None, headers=visitor)
    sign_in = {"userId": customer_id, "anonymousId": anonymous_id, "messageId": str(uuid.uuid4()), "traits": {}}
    both = {**browser_of(customer_id), "X-Sojourn-Anonymous-Token": claimed.json()["token"]}
    assert (await api.http.post("/v1/identify", json=sign_in, headers=both)).status_code == 200
    await api.settled(sign_in["messageId"])
    async with sessions() as session:
        assert await session.get(Identity, f"anonymous:{anonymous_id}") is not None
        assert (await session.get(Customer, customer_id)).recently_viewed == ["lip-42"]
    # Alias between two user ids: her token is not enough.
    alias = {"userId": customer_id, "previousId": f"other-{customer_id}", "messageId": str(uuid.uuid4())}
    refused = await api.http.post("/v1/alias", json=alias, headers=browser_of(customer_id))
    assert refused.status_code == 403 and "server key" in refused.json()["error"], refused.text
    # A user id can't be written as an anonymous visitor's.
    assert (await api.post("/v1/track", {"userId": f"anonymous:{anonymous_id}", "event": "x",
                                         "messageId": str(uuid.uuid4())})).status_code == 400
