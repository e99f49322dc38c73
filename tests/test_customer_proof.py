"""A public write key only appends events. Each attack a storefront's write key
allowed before fails now, and the shopper's own browser, with her proof, still works
(api/proof.py)."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Customer, Event, Identity, OnsiteMessage, PushSubscription, utcnow
from sojourn.ground.settings import Settings
from sojourn.ground.signing import customer_token, legacy_customer_token
from tests.conftest import IDENTITY_SECRET, SERVER_KEY, WRITE_KEY, Api, basic, browser_of, open_api
from tests.support.push_receiver import PushReceiver

ATTACKER = {"Authorization": basic(WRITE_KEY)}  # what anyone can copy from the shop's page
SERVER = {"Authorization": basic(SERVER_KEY)}


def with_token(token: str) -> dict[str, str]:
    return {**ATTACKER, "X-Sojourn-Token": token}


async def a_message_for(sessions: Any, customer_id: str, content: str = "Your referral code: LISA-42") -> int:
    async with sessions() as session:
        session.add(Customer(id=customer_id, traits={}, created_at=utcnow(), updated_at=utcnow(), known=True))
        row = OnsiteMessage(customer_id=customer_id, placement="content_slot", journey="referral_ask", step="ask",
                            content={"body": content}, created_at=utcnow(), idempotency_key=f"proof-{uuid.uuid4()}")
        session.add(row)
        await session.commit()
        return row.id




async def test_nobody_reads_or_acknowledges_her_on_site_messages_with_the_write_key(
        api: Api, sessions: Any, customer_id: str) -> None:
    message_id = await a_message_for(sessions, customer_id)
    mine = f"/v1/customers/{customer_id}/messages"
    for headers in (ATTACKER, with_token("0" * 64), browser_of("someone-else"), with_token("garbage.token")):
        read = await api.http.get(mine, headers=headers)
        assert read.status_code == 403 and "X-Sojourn-Token" in read.json()["detail"], read.text
        ack = await api.http.post(f"{mine}/{message_id}/ack", headers=headers)
        assert ack.status_code == 403
    assert (await api.http.get(mine)).status_code == 401, "no key at all"
    # Her own browser, with the token the shop signed for her, and the shop's backend.
    [shown] = (await api.http.get(mine, headers=browser_of(customer_id))).json()
    assert shown["content"] == {"body": "Your referral code: LISA-42"}
    assert len((await api.http.get(mine, headers=SERVER)).json()) == 1
    assert (await api.http.post(f"{mine}/{message_id}/ack", headers=browser_of(customer_id))).status_code == 204


async def test_nobody_moves_her_push_to_another_browser_with_the_write_key(
        api: Api, sessions: Any, push_service: PushReceiver, customer_id: str) -> None:
    attacker_browser = push_service.browser(f"attacker-{customer_id}").subscription(push_service.base_url)
    hers = push_service.browser(customer_id).subscription(push_service.base_url)
    path = f"/v1/customers/{customer_id}/push-subscriptions"
    # Her pushes sent to the attacker's browser: refused.
    refused = await api.http.post(path, json=attacker_browser, headers=ATTACKER)
    assert refused.status_code == 403
    assert (await api.http.post(path, json=attacker_browser, headers=browser_of("attacker"))).status_code == 403
    # Her own browser subscribes, with her token.
    assert (await api.http.post(path, json=hers, headers=browser_of(customer_id))).status_code == 201
    # Nobody else unsubscribes it.
    gone = await api.http.request("DELETE", path, params={"endpoint": hers["endpoint"]}, headers=ATTACKER)
    assert gone.status_code == 403
    async with sessions() as session:
        owners = (await session.scalars(select(PushSubscription.endpoint).where(
            PushSubscription.customer_id == customer_id))).all()
    assert owners == [hers["endpoint"]], "only her browser, still there"


async def test_nobody_rewrites_her_email_with_the_write_key(api: Api, sessions: Any, customer_id: str) -> None:
    assert (await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}},
                           key=SERVER_KEY)).status_code == 200
    hijack = {"userId": customer_id, "messageId": str(uuid.uuid4()), "traits": {"email": "attacker@evil.test"}}
    for path in ("/v1/identify", "/v1/i"):
        refused = await api.http.post(path, json=hijack, headers=ATTACKER)
        assert refused.status_code == 403 and "customer token" in refused.json()["error"], refused.text
    in_a_batch = {"batch": [{"type": "track", "userId": customer_id, "event": "Product Viewed",
                             "messageId": str(uuid.uuid4())}, {"type": "identify", **hijack}]}
    assert (await api.http.post("/v1/batch", json=in_a_batch, headers=ATTACKER)).status_code == 403
    async with sessions() as session:
        assert (await session.get(Customer, customer_id)).email == f"{customer_id}@mail.test"
        stored = await session.scalars(select(Event.message_id).where(
            Event.message_id.in_([hijack["messageId"], in_a_batch["batch"][0]["messageId"]])))
        assert stored.all() == [], "a refused batch stores nothing"
    # Her own browser may change it.
    mine = {**hijack, "messageId": str(uuid.uuid4()), "traits": {"email": f"new-{customer_id}@mail.test"}}
    assert (await api.http.post("/v1/identify", json=mine, headers=browser_of(customer_id))).status_code == 200
    async with sessions() as session:
        assert (await session.get(Customer, customer_id, populate_existing=True)).email == f"new-{customer_id}@mail.test"


async def test_nobody_renames_her_with_the_write_key(api: Api, sessions: Any, customer_id: str) -> None:
    """#26.4: her first name greets her on the shop's pages and in every email; any
    trait may be shown back to her or decide her journey, so each needs her proof."""
    assert (await api.post("/v1/identify", {"userId": customer_id, "traits": {"firstName": "Lisa", "vip": True}},
                           key=SERVER_KEY)).status_code == 200
    for traits in ({"firstName": "Claim your prize at evil.test"}, {"first_name": "x"}, {"name": "x"},
                   {"vip": False}, {"lastName": "x"}):
        hijack = {"userId": customer_id, "messageId": str(uuid.uuid4()), "traits": traits}
        refused = await api.http.post("/v1/identify", json=hijack, headers=ATTACKER)
        assert refused.status_code == 403 and "customer token" in refused.json()["error"], (traits, refused.text)
        assert (await api.http.post("/v1/i", json=hijack, headers=browser_of("mallory"))).status_code == 403
    async with sessions() as session:
        her = await session.get(Customer, customer_id)
        assert (her.first_name, her.traits) == ("Lisa", {"firstName": "Lisa", "vip": True})
    # Her own browser, with her token, may; an identify without traits needs nothing.
    mine = {"userId": customer_id, "messageId": str(uuid.uuid4()), "traits": {"firstName": "Lise"}}
    assert (await api.http.post("/v1/identify", json=mine, headers=browser_of(customer_id))).status_code == 200
    bare = {"userId": customer_id, "messageId": str(uuid.uuid4()), "traits": {}}
    assert (await api.http.post("/v1/identify", json=bare, headers=ATTACKER)).status_code == 200
    async with sessions() as session:
        assert (await session.get(Customer, customer_id, populate_existing=True)).first_name == "Lise"


async def test_nobody_links_their_browser_to_her_with_the_write_key(api: Api, sessions: Any, customer_id: str) -> None:
    """The attacker's browser (its anonymous id, its push subscription) would become
    hers, and her pushes would go to the attacker."""
    attacker_anon = f"anon-attacker-{uuid.uuid4().hex[:8]}"
    assert (await api.post("/v1/identify", {"userId": customer_id, "traits": {"firstName": "Lisa"}})).status_code == 200
    for call in ({"type": "identify", "userId": customer_id, "anonymousId": attacker_anon},
                 {"type": "alias", "userId": customer_id, "previousId": attacker_anon}):
        refused = await api.http.post(f"/v1/{call['type']}", json={**call, "messageId": str(uuid.uuid4())},
                                      headers=ATTACKER)
        assert refused.status_code == 403, refused.text
    async with sessions() as session:
        assert await session.get(Identity, f"anonymous:{attacker_anon}") is None, "no link was made"
    # Her own login, with her token: taken, and her browser's visitor is linked only
    # with that browser's proof too (its anonymous token).
    hers = f"anon-{customer_id}"
    login = {"userId": customer_id, "anonymousId": hers, "messageId": str(uuid.uuid4())}
    assert (await api.http.post("/v1/identify", json=login, headers=browser_of(customer_id))).status_code == 200
    async with sessions() as session:
        assert await session.get(Identity, f"anonymous:{hers}") is None, "no proof of the anonymous id: no link"
    proof = (await api.http.post("/v1/browser/anonymous-token", json={"anonymousId": hers},
                                 headers=ATTACKER)).json()["token"]
    login = {**login, "messageId": str(uuid.uuid4())}
    both = {**browser_of(customer_id), "X-Sojourn-Anonymous-Token": proof}
    assert (await api.http.post("/v1/identify", json=login, headers=both)).status_code == 200
    async with sessions() as session:
        assert (await session.get(Identity, f"anonymous:{hers}")).customer_id == customer_id


async def test_a_visitor_proves_her_anonymous_id_until_she_signs_in(api: Api, sessions: Any, customer_id: str) -> None:
    anon = f"anon-{uuid.uuid4().hex}"
    claimed = await api.http.post("/v1/browser/anonymous-token", json={"anonymousId": anon}, headers=ATTACKER)
    assert claimed.status_code == 201, claimed.text
    token = claimed.json()["token"]
    again = await api.http.post("/v1/browser/anonymous-token", json={"anonymousId": anon}, headers=ATTACKER)
    assert again.status_code == 409, "nobody gets it twice"
    mine = f"/v1/customers/{anon}/messages"
    assert (await api.http.get(mine, headers=with_token(token))).json() == []
    assert (await api.http.get("/v1/customers/anon-other/messages", headers=with_token(token))).status_code == 403
    # She leaves her email in a lead form: her own anonymous profile, her token.
    lead = {"anonymousId": anon, "traits": {"email": f"{customer_id}@mail.test"}, "messageId": str(uuid.uuid4())}
    assert (await api.http.post("/v1/identify", json=lead, headers=ATTACKER)).status_code == 403
    assert (await api.http.post("/v1/identify", json=lead, headers=with_token(token))).status_code == 200
    # She signs in: from now on only her customer token opens her data.
    login = {"userId": customer_id, "anonymousId": anon, "messageId": str(uuid.uuid4())}
    assert (await api.post("/v1/identify", login)).status_code == 200
    after = await api.http.get(mine, headers=with_token(token))
    assert after.status_code == 403 and "signed in" in after.json()["detail"]
    assert (await api.http.get(mine, headers=browser_of(customer_id))).status_code == 200
    # A browser's claimed anonymous id joins an account only with that browser's proof:
    # someone else's sign-in can't take her visitor's messages and push along.
    other = f"anon-{uuid.uuid4().hex}"
    other_token = (await api.http.post("/v1/browser/anonymous-token", json={"anonymousId": other},
                                       headers=ATTACKER)).json()["token"]
    for call in ({"type": "identify", "userId": "attacker", "anonymousId": other},
                 {"type": "alias", "userId": "attacker", "previousId": other}):
        body = {**call, "messageId": str(uuid.uuid4())}
        taken = await api.http.post(f"/v1/{call['type']}", json=body, headers=browser_of("attacker"))
        assert taken.status_code == 403, taken.text  # identify: its anonymous token; alias: a server key
        assert ("X-Sojourn-Anonymous-Token" if call["type"] == "identify" else "server key") in taken.json()["error"]
    async with sessions() as session:
        assert await session.get(Identity, f"anonymous:{other}") is None
    hers = {**browser_of(f"{customer_id}-2"), "X-Sojourn-Anonymous-Token": other_token}
    login = {"userId": f"{customer_id}-2", "anonymousId": other, "messageId": str(uuid.uuid4())}
    assert (await api.http.post("/v1/identify", json=login, headers=hers)).status_code == 200
    # A customer's user id claimed as an anonymous id names a visitor of that id, never her.
    async with sessions() as session:
        session.add(OnsiteMessage(customer_id=customer_id, placement="content_slot", journey="referral_ask",
                                  step="ask", content={"body": "hers"}, created_at=utcnow(),
                                  idempotency_key=f"proof-{uuid.uuid4()}"))
        await session.commit()
    assert len((await api.http.get(f"/v1/customers/{customer_id}/messages", headers=browser_of(customer_id))
                ).json()) == 1
    as_visitor = await api.http.post("/v1/browser/anonymous-token", json={"anonymousId": customer_id},
                                     headers=ATTACKER)
    assert as_visitor.status_code == 201
    read = await api.http.get(f"/v1/customers/{customer_id}/messages", headers=with_token(as_visitor.json()["token"]))
    assert read.status_code == 200 and read.json() == [], "the visitor's messages, none of hers"
    assert (await api.http.post("/v1/browser/anonymous-token", json={"anonymousId": anon})).status_code == 401


@hsettings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.dictionaries(st.sampled_from(["anonymousId", "x"]),
                                      st.one_of(st.text(max_size=300), st.integers(), st.none())),
                      st.lists(st.integers(), max_size=2), st.text(max_size=20)),
       token=st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=120),
       message=st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str), st.text(min_size=1, max_size=30)),
       kind=st.one_of(st.sampled_from(["viewed", "clicked", "dismissed", "ack"]), st.text(min_size=1, max_size=12)))
async def test_no_claim_token_or_report_gets_a_5xx(api: Api, body: Any, token: str, message: str, kind: str) -> None:
    claimed = await api.http.post("/v1/browser/anonymous-token", json=body, headers=ATTACKER)
    assert claimed.status_code in (201, 400, 409), claimed.text
    hers = {**ATTACKER, "X-Sojourn-Token": token.encode("latin-1")}
    read = await api.http.get("/v1/customers/someone/messages", headers=hers)
    assert read.status_code in (200, 403), read.text
    path = f"/v1/customers/someone/messages/{quote(message, safe='')}/{quote(kind, safe='')}"
    for headers in (hers, browser_of("someone"), SERVER):
        reported = await api.http.post(path, headers=headers)
        assert reported.status_code in (204, 400, 403, 404, 405), (path, reported.status_code, reported.text)


async def test_only_her_newest_browsers_keep_her_pushes(api: Api, sessions: Any, settings: Settings,
                                                       push_service: PushReceiver, customer_id: str) -> None:
    """#26.10: subscriptions per customer were unbounded: a script with her token (or
    the shop's key) could file endless endpoints under her, each a send for every push."""
    path = f"/v1/customers/{customer_id}/push-subscriptions"
    cap = settings.push_subscriptions_per_customer
    endpoints = []
    for n in range(cap + 3):
        browser = push_service.browser(f"{customer_id}-{n}").subscription(push_service.base_url)
        assert (await api.http.post(path, json=browser, headers=browser_of(customer_id))).status_code == 201
        endpoints.append(browser["endpoint"])
    # Her first browser subscribes again (a new log-in): it counts as her newest.
    first = push_service.browser(f"{customer_id}-0").subscription(push_service.base_url)
    assert (await api.http.post(path, json=first, headers=browser_of(customer_id))).status_code == 201
    async with sessions() as session:
        kept = set((await session.scalars(select(PushSubscription.endpoint).where(
            PushSubscription.customer_id == customer_id))).all())
    assert kept == {endpoints[0], *endpoints[-(cap - 1):]}, f"{len(kept)} kept"


async def test_customer_tokens_expire_and_the_old_format_needs_a_setting(
        env: WorkflowEnvironment, settings: Settings, sessions: Any, customer_id: str) -> None:
    """#26.10: a token never expired, so revoking a leaked one meant rotating the secret
    for everyone. Now: v1.<expires>.<HMAC>, refused once expired or if it claims to last
    longer than SOJOURN_CUSTOMER_TOKEN_MAX_SECONDS; the first format only while allowed."""
    await a_message_for(sessions, customer_id)
    mine = f"/v1/customers/{customer_id}/messages"
    now = int(time.time())

    async def read(api: Api, token: str) -> int:
        return (await api.http.get(mine, headers=with_token(token))).status_code

    async with open_api(settings, env.client) as api:
        assert await read(api, customer_token(customer_id, IDENTITY_SECRET)) == 200
        assert await read(api, customer_token(customer_id, IDENTITY_SECRET, expires=now - 1)) == 403, "expired"
        forever = customer_token(customer_id, IDENTITY_SECRET, expires=now + 400 * 86400)
        assert await read(api, forever) == 403, "an expiry a year away is none"
        stretched = customer_token(customer_id, IDENTITY_SECRET, expires=now + 60).replace(
            f"v1.{now + 60}.", f"v1.{now + 3600}.")
        assert await read(api, stretched) == 403, "the expiry is signed"
        legacy = legacy_customer_token(customer_id, IDENTITY_SECRET)
        assert await read(api, legacy) == 403, "the first format, not allowed by default"
    async with open_api(settings.model_copy(update={"legacy_customer_tokens": True}), env.client) as api:
        assert await read(api, legacy) == 200, "while the shop moves off it"
        assert await read(api, legacy_customer_token("someone-else", IDENTITY_SECRET)) == 403
