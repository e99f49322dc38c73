"""Ad audiences: a journey adds her, her run's end removes her; the scheduled sync
tells Meta, Google Ads and a signed webhook in their documented formats (local
receivers check them), in batches of at most 10,000, waiting out rate limits; only
people who consented and can be matched are sent, and an opt-out removes her."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sojourn.audiences import members
from sojourn.ground.models import AudienceMember, Customer, utcnow
from sojourn.ground.settings import AudienceDestination, Settings
from sojourn.identity.consent import ConsentRef, set_consent
from tests.conftest import WRITE_KEY, Api, browser_of, keep_history, open_api
from tests.support.ad_platforms import DEVELOPER_TOKEN, GOOGLE_TOKEN, META_TOKEN, AdPlatforms
from tests.support.journeys import TEST_JOURNEYS, AudienceProbe
from worker import build_worker
from workflows.registry import JOURNEYS
from workflows.upkeep.audience_sync import AudienceSync

SECRET = "audience-webhook-secret"
# Segment's Consent Management, as the shop's consent banner records her choice.
GRANTED = {"consent": {"categoryPreferences": {"Advertising": True, "Analytics": True}}}


def test_identifiers_are_normalized_then_hashed_as_each_platform_documents() -> None:
    person = members.Person("c", " Lisa.M@GMail.com ", "+33 6 12 34 56 78")
    assert person.meta_row() == [members.sha256("lisa.m@gmail.com"), members.sha256("33612345678")]
    assert person.google_identifiers() == [{"hashedEmail": members.sha256("lisam@gmail.com")},
                                           {"hashedPhoneNumber": members.sha256("+33612345678")}]
    assert members.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2
    assert members.normalized_phone("06 12 34 56 78") is None, "no country code: can't be matched"
    assert members.normalized_phone("0044 20 7946 0958") == "442079460958"
    assert not members.Person("c", None, "12").matchable


@pytest.fixture
async def platforms() -> AsyncIterator[AdPlatforms]:
    receiver = AdPlatforms(webhook_secret=SECRET)
    await receiver.start()
    yield receiver
    await receiver.stop()


def destinations(**found: dict[str, Any]) -> dict[str, AudienceDestination]:
    return {name: AudienceDestination(**config) for name, config in found.items()}


@pytest.fixture
def synced(settings: Settings, platforms: AdPlatforms) -> Settings:
    base = platforms.base_url
    return settings.model_copy(update={
        "webhook_secret": SECRET, "audience_allowed_hosts": ["127.0.0.1:*"],
        "audience_destinations": destinations(**{
            "meta": {"type": "meta", "url": f"{base}/meta/v21.0", "token": META_TOKEN,
                     "audiences": {"cart_abandoners": "2384"}},
            "google": {"type": "google", "url": f"{base}/google/v18", "token": GOOGLE_TOKEN,
                       "developer_token": DEVELOPER_TOKEN, "customer_id": "1234567890",
                       "audiences": {"cart_abandoners": "555"}},
            "hook": {"type": "webhook", "url": f"{base}/hook/audiences", "audiences": {"cart_abandoners": "x"}},
        })})


@pytest.fixture
async def api(env: WorkflowEnvironment, synced: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with build_worker(env.client, synced, sessions, extra_workflows=[AudienceProbe]), \
            open_api(synced, env.client, journeys=(*JOURNEYS, *TEST_JOURNEYS)) as opened:
        yield opened


async def sync(api: Api, settings: Settings) -> Any:
    return await api.client.execute_workflow(AudienceSync.run, id=f"audiences-{uuid.uuid4()}",
                                             task_queue=settings.task_queue)


async def test_she_joins_and_leaves_on_every_platform(env: WorkflowEnvironment, api: Api, synced: Settings,
                                                      sessions: Any, platforms: AdPlatforms,
                                                      customer_id: str) -> None:
    email, phone = f"{customer_id}@Mail.test", "+33 6 12 34 56 78"
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": email, "phone": phone},
                                    "context": GRANTED})
    opted_out, unmatched = f"{customer_id}-out", f"{customer_id}-anon"
    await api.post("/v1/identify", {"userId": opted_out, "traits": {"email": f"{opted_out}@mail.test"},
                                    "context": GRANTED})
    async with sessions() as session:
        await set_consent(session, ConsentRef(opted_out, "ads", "marketing"), False, "preference center")
        await session.commit()
    platforms.throttle_meta = 1  # Meta's first answer: slow down
    for who in (customer_id, opted_out, unmatched):
        await api.track(who, "Audience Probe")
    handle = api.client.get_workflow_handle(AudienceProbe.spec.workflow_id(customer_id))
    for _ in range(200):
        if "audience cart_abandoners: joined" in " ".join((await handle.query("state"))["timeline"]):
            break
    first = await sync(api, synced)
    assert (first.added, first.removed) == (3, 0), first  # her, on three platforms
    hers = [members.sha256(email.lower()), members.sha256("33612345678")]
    assert platforms.meta == [("2384", "POST", [hers])] and platforms.refused == []
    assert platforms.google == [("customers/1234567890/userLists/555", "create",
                                 [{"hashedEmail": members.sha256(email.lower())},
                                  {"hashedPhoneNumber": members.sha256("+33612345678")}])]
    [hook] = platforms.webhook
    assert (hook["audience"], hook["action"], [m["customer_id"] for m in hook["members"]]) == \
        ("cart_abandoners", "add", [customer_id])
    assert (await sync(api, synced)).added == 0, "told once"

    # She orders: her run ends and she leaves the audience, on every platform.
    await api.track(customer_id, "Order Completed", {"order_id": f"o-{customer_id}"})
    result = await handle.result()
    assert result["outcome"] == "exited"
    assert any("audience cart_abandoners: left (probe_audience: exited)" in line
               for line in (await handle.query("state"))["timeline"])
    await keep_history(handle, "probe_audience")
    second = await sync(api, synced)
    assert (second.added, second.removed) == (0, 3), second
    assert platforms.meta[-1] == ("2384", "DELETE", [hers])
    assert platforms.google[-1][1] == "remove" and platforms.webhook[-1]["action"] == "remove"


async def test_an_opt_out_removes_her_and_batches_hold_ten_thousand(api: Api, synced: Settings, sessions: Any,
                                                                    platforms: AdPlatforms, customer_id: str) -> None:
    audience = f"big-{customer_id}"
    only_meta = synced.model_copy(update={"audience_destinations": destinations(
        meta={"type": "meta", "url": f"{platforms.base_url}/meta/v21.0", "token": META_TOKEN,
              "audiences": {audience: "777"}}), "task_queue": f"big-{customer_id}",
        "eu_consent": False})  # a shop outside the EU's rules: everyone who has not declined
    async with sessions() as session:
        for n in range(10_003):
            who = f"{customer_id}-{n}"
            session.add(Customer(id=who, email=f"{who}@mail.test", traits={}, created_at=utcnow(), updated_at=utcnow()))
            session.add(AudienceMember(audience=audience, customer_id=who, member=True, reason="test",
                                       changed_at=utcnow()))
        await session.commit()
    async with build_worker(api.client, only_meta, sessions):
        result = await api.client.execute_workflow(AudienceSync.run, id=f"audiences-{uuid.uuid4()}",
                                                   task_queue=f"big-{customer_id}")
        assert result.added == 10_003
        sizes = [len(rows) for aud, method, rows in platforms.meta if aud == "777"]
        assert sizes == [10_000, 3] and platforms.refused == []
        # One of them opts out of marketing email: the next sync removes her.
        async with sessions() as session:
            await set_consent(session, ConsentRef(f"{customer_id}-7", "email", "marketing"), False, "unsubscribe link")
            await session.commit()
        again = await api.client.execute_workflow(AudienceSync.run, id=f"audiences-{uuid.uuid4()}",
                                                  task_queue=f"big-{customer_id}")
    assert (again.added, again.removed) == (0, 1)
    assert platforms.meta[-1] == ("777", "DELETE", [[members.sha256(f"{customer_id}-7@mail.test"), ""]])


async def test_a_destination_off_the_allow_list_is_never_called(api: Api, synced: Settings,
                                                                platforms: AdPlatforms) -> None:
    strict = synced.model_copy(update={"audience_allowed_hosts": ["graph.facebook.com"],
                                       "task_queue": f"strict-{uuid.uuid4()}"})
    async with build_worker(api.client, strict, api.sessions):
        result = await api.client.execute_workflow(AudienceSync.run, id=f"audiences-{uuid.uuid4()}",
                                                   task_queue=strict.task_queue)
    assert len(result.skipped) == 3 and all("not allowed" in s or "allow" in s for s in result.skipped), result
    assert platforms.meta == [] and platforms.google == [] and platforms.webhook == []


async def test_google_is_told_what_she_chose_and_nobody_whose_choice_is_unknown(
        api: Api, synced: Settings, sessions: Any, platforms: AdPlatforms, customer_id: str) -> None:
    """#26.12: Customer Match was told adUserData and adPersonalization GRANTED for
    everyone who had not opted out. Now each person carries her own recorded choice, and
    where the EU's rules apply (the default), nobody whose choice is unknown is sent."""
    ann, bea, cat, dan = (f"{customer_id}-{n}" for n in ("ann", "bea", "cat", "dan"))
    audience = f"eu-{customer_id}"
    prefs = {ann: {"Advertising": True}, cat: {"Advertising": True, "ad_personalization": False}}
    for who in (ann, bea, cat, dan):  # the shop's backend: proof enough
        context = {"consent": {"categoryPreferences": prefs[who]}} if who in prefs else {}
        assert (await api.post("/v1/identify", {"userId": who, "traits": {"email": f"{who}@mail.test"},
                                                "context": context})).status_code == 200
    # Anyone with the write key claims Dan granted ads: taken as an event, not as his choice.
    forged = {"userId": dan, "event": "Consent Preference Updated", "messageId": str(uuid.uuid4()),
              "context": GRANTED, "writeKey": WRITE_KEY}
    assert (await api.http.post("/v1/t", json=forged)).status_code == 200
    async with sessions() as session:
        for who in (ann, bea, cat, dan):
            session.add(AudienceMember(audience=audience, customer_id=who, member=True, reason="test",
                                       changed_at=utcnow()))
        await session.commit()

    async def sync_google(eu: bool) -> None:
        queue = f"eu-{eu}-{customer_id}"
        google = synced.model_copy(update={"eu_consent": eu, "task_queue": queue, "audience_destinations": destinations(
            google={"type": "google", "url": f"{platforms.base_url}/google/v18", "token": GOOGLE_TOKEN,
                    "developer_token": DEVELOPER_TOKEN, "customer_id": "1234567890",
                    "audiences": {audience: "777"}})})
        async with build_worker(api.client, google, sessions):
            await api.client.execute_workflow(AudienceSync.run, id=f"audiences-{uuid.uuid4()}", task_queue=queue)

    def told() -> dict[str, tuple[str, dict[str, str] | None]]:
        by_hash = {members.sha256(f"{who}@mail.test"): who for who in (ann, bea, cat, dan)}
        return {by_hash[ids[0]["hashedEmail"]]: (op, consent)
                for (_, op, ids), consent in zip(platforms.google, platforms.google_consents, strict=True)
                if ids[0].get("hashedEmail") in by_hash}

    await sync_google(eu=True)
    assert told() == {ann: ("create", {"adUserData": "GRANTED", "adPersonalization": "GRANTED"})}
    assert platforms.job_consents == [None], "no blanket consent for the whole job"
    assert platforms.refused == []

    # A shop outside the EU's rules: everyone who has not declined, each with her choice.
    await sync_google(eu=False)
    assert told() == {ann: ("create", {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}),
                      bea: ("create", {"adUserData": "UNSPECIFIED", "adPersonalization": "UNSPECIFIED"}),
                      dan: ("create", {"adUserData": "UNSPECIFIED", "adPersonalization": "UNSPECIFIED"})}

    # Ann withdraws her consent from her own browser (her customer token): she is removed.
    withdrawn = {"userId": ann, "event": "Consent Preference Updated", "messageId": str(uuid.uuid4()),
                 "context": {"consent": {"categoryPreferences": {"Advertising": False}}}}
    assert (await api.http.post("/v1/track", json=withdrawn, headers=browser_of(ann))).status_code == 200
    await sync_google(eu=False)
    assert told()[ann] == ("remove", None)
