"""#26: Hypothesis drives random sequences of identify, alias, anonymous-token claims,
links, traits and push subscriptions from the different roles: two customers, an
attacker with his own account, and the shop's backend.

Invariant: whatever happened, what a send for customer X reads (her profile's email
and her push subscriptions, found the way the send activities find them: the profile
her id stands for now) holds only an address or browser that X gave, from her own
browser with her proof or through the shop's backend acting for her."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from sojourn.ground.models import Customer, PushSubscription
from sojourn.identity.linking import canonical
from tests.conftest import SERVER_KEY, WRITE_KEY, Api, basic, browser_of
from tests.support.push_receiver import PushReceiver

ACTORS = ("ann", "bea", "mallory")  # each signed in as herself, with her own customer token
CUSTOMERS = ("ann", "bea")  # whose messages must reach only what they gave
ANONYMOUS = ("ann", "bea", "v1", "v2")  # anonymous ids: a user id's spelling included

actors = st.sampled_from(ACTORS)
anonymous_ids = st.sampled_from(ANONYMOUS)
ids = st.sampled_from((*ACTORS, *ANONYMOUS))
steps = st.lists(st.one_of(
    st.tuples(st.just("server_identify"), st.sampled_from(CUSTOMERS)),
    st.tuples(st.just("claim"), actors, anonymous_ids),
    st.tuples(st.just("sign_in"), actors, ids, anonymous_ids, st.booleans()),
    st.tuples(st.just("alias"), actors, ids, ids),
    st.tuples(st.just("visitor_email"), actors, anonymous_ids),
    st.tuples(st.just("push"), actors, ids, st.booleans()),
), min_size=1, max_size=12)


class World:
    def __init__(self, api: Api, push: PushReceiver, run: str) -> None:
        self.api, self.push, self.run = api, push, run
        self.tokens: dict[tuple[str, str], str] = {}  # (actor, anonymous id) -> its anonymous token

    def uid(self, name: str) -> str:
        return f"{name}-{self.run}"

    def address(self, actor: str) -> str:
        return f"{self.uid(actor)}@{actor}.test"

    def endpoint(self, actor: str) -> str:
        return f"{self.push.base_url}/push/{self.uid(actor)}"

    def browser(self, actor: str, anonymous_id: str | None = None, *, sign_in: bool = True) -> dict[str, str]:
        headers = browser_of(self.uid(actor)) if sign_in else {"Authorization": basic(WRITE_KEY)}
        token = self.tokens.get((actor, anonymous_id or ""))
        if token and not sign_in:
            headers["X-Sojourn-Token"] = token
        elif token:
            headers["X-Sojourn-Anonymous-Token"] = token
        return headers

    async def call(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        body = {**body, "messageId": str(uuid.uuid4())}
        answer = await self.api.http.post(path, json=body, headers=headers)
        assert answer.status_code < 500, (path, body, answer.text)
        if answer.status_code == 200:
            await self.api.settled(body["messageId"])
        return answer.status_code

    async def step(self, step: tuple[Any, ...]) -> None:
        kind, *args = step
        if kind == "server_identify":  # the shop's backend, for her: her own address
            [who] = args
            await self.call("/v1/identify", {"userId": self.uid(who), "traits": {"email": self.address(who)}},
                            {"Authorization": basic(SERVER_KEY)})
        elif kind == "claim":
            actor, anon = args
            answer = await self.api.http.post("/v1/browser/anonymous-token", json={"anonymousId": self.uid(anon)},
                                              headers={"Authorization": basic(WRITE_KEY)})
            assert answer.status_code in (201, 409), answer.text
            if answer.status_code == 201:
                self.tokens[(actor, anon)] = answer.json()["token"]
        elif kind == "sign_in":  # her browser (or anyone's) identifies some user with some anonymous id
            actor, user, anon, with_email = args
            traits = {"email": self.address(actor)} if with_email else {}
            await self.call("/v1/identify", {"userId": self.uid(user), "anonymousId": self.uid(anon),
                                             "traits": traits}, self.browser(actor, anon))
        elif kind == "alias":
            actor, user, previous = args
            await self.call("/v1/alias", {"userId": self.uid(user), "previousId": self.uid(previous),
                                          "anonymousId": self.uid(previous)}, self.browser(actor, previous))
        elif kind == "visitor_email":  # a lead form: her email on her browser's visitor
            actor, anon = args
            await self.call("/v1/identify", {"anonymousId": self.uid(anon), "traits": {"email": self.address(actor)}},
                            self.browser(actor, anon, sign_in=False))
        elif kind == "push":  # a browser subscribes, naming a user or its visitor
            actor, target, as_visitor = args
            subscription = {"endpoint": self.endpoint(actor), "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22}}
            headers = self.browser(actor, target, sign_in=not as_visitor)
            answer = await self.api.http.post(f"/v1/customers/{self.uid(target)}/push-subscriptions",
                                              json=subscription, headers=headers)
            assert answer.status_code in (201, 403), answer.text


@hsettings(max_examples=40, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(story=steps)
async def test_her_messages_reach_only_what_she_gave(api: Api, sessions: Any, push_service: PushReceiver,
                                                      story: list[tuple[Any, ...]]) -> None:
    world = World(api, push_service, uuid.uuid4().hex[:8])
    for step in story:
        await world.step(step)
    async with sessions() as session:
        for who in CUSTOMERS:
            profile = await canonical(session, world.uid(who))
            her = await session.get(Customer, profile)
            if her is not None:
                assert her.email in (None, world.address(who)), (who, her.email, story)
            browsers = set((await session.scalars(select(PushSubscription.endpoint).where(
                PushSubscription.customer_id == profile))).all())
            assert browsers <= {world.endpoint(who)}, (who, browsers, story)
