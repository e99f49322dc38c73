"""The event pipeline on the real parts: accepting without Temporal, routing exactly
once in effect, per-customer order, poison events parked dead, replicas racing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, Interceptor, OutboundInterceptor, SignalWorkflowInput
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.models import Event, JourneyEntry, JourneyRun, planned_run_id, utcnow
from sojourn.ground.settings import Settings
from sojourn.pipeline.router import Router
from tests.conftest import Api, open_api
from tests.support.tcp_proxy import TcpProxy
from workflows.journeys.cart_abandonment import CartAbandonment
from workflows.kit.journey import JourneyStart
from workflows.registry import specs

ADDED = {"product_id": "lip-42", "name": "Velvet Lipstick", "price": 24, "cart_id": "c-1"}


def cart_id(customer_id: str) -> str:
    return f"cart_abandonment:{customer_id}"


async def delivered(client: Client, workflow_id: str) -> list[str]:
    """The messageIds a run was given, in order: the entry in its start input, then
    every signal."""
    ids = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            [payload] = event.workflow_execution_started_event_attributes.input.payloads
            entry = (await client.data_converter.decode([payload], [dict]))[0].get("entry")
            if entry:
                ids.append(entry["message_id"])
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            [payload] = event.workflow_execution_signaled_event_attributes.input.payloads
            ids.append((await client.data_converter.decode([payload], [dict]))[0]["message_id"])
    return ids


async def starts(client: Client, workflow_id: str) -> int:
    return len([w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')])


async def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def state_of(sessions: Any, message_id: str) -> tuple[str, int, str | None]:
    async with sessions() as session:
        row = (await session.execute(select(Event.route_state, Event.attempts, Event.last_error)
                                     .where(Event.message_id == message_id))).one()
        return row.route_state, row.attempts, row.last_error


async def test_accepting_needs_no_temporal_and_routing_follows_when_it_returns(
    env: WorkflowEnvironment, settings: Settings, sessions: Any
) -> None:
    """Temporal is unreachable: 200 calls are answered 200 at once, and once it is
    back every event reaches its journey, with no client retry."""
    host, _, port = env.client.service_client.config.target_host.rpartition(":")
    proxy = TcpProxy(host, int(port))  # down: nothing listens on its port yet
    cut_off = await Client.connect(proxy.address, lazy=True)
    customers = [f"down-{uuid.uuid4().hex[:8]}" for _ in range(200)]
    async with open_api(settings, cut_off) as api:
        responses = await asyncio.gather(*(
            api.post("/v1/track", {"userId": c, "event": "Product Added", "properties": ADDED,
                                   "messageId": f"m-{c}"}, settle=False)
            for c in customers
        ))
        assert [r.status_code for r in responses] == [200] * 200
        async with sessions() as session:
            pending = await session.scalar(select(func.count()).select_from(Event).where(
                Event.message_id.in_([f"m-{c}" for c in customers]), Event.route_state == "pending"))
            # What became of any that are not pending, should this fail again.
            states = (await session.execute(select(Event.route_state, Event.attempts, func.count()).where(
                Event.message_id.in_([f"m-{c}" for c in customers])).group_by(Event.route_state, Event.attempts))).all()
        assert pending == 200, f"stored, waiting for Temporal; by state and attempts: {states}"

        await proxy.up()
        try:
            await api.settled(*[f"m-{c}" for c in customers], timeout=60)
            for c in customers[:: 20]:
                assert await delivered(env.client, cart_id(c)) == [f"m-{c}"]
        finally:
            await proxy.down()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(JourneyRun).where(
            JourneyRun.customer_id.in_(customers))) == 200


async def test_a_database_whose_connections_are_all_busy_gets_503(
    env: WorkflowEnvironment, settings: Settings, database_url: str
) -> None:
    """PostgreSQL's pool has no overflow: when every connection stays busy past the
    pool timeout, the call is refused with 503 and Retry-After, never a 500."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite opens its file per connection; it has no pool limit to exhaust")
    tight = settings.model_copy(update={"database_pool_size": 1, "database_pool_timeout_seconds": 0.3,
                                        "router": False})
    async with open_api(tight, env.client) as api:
        async with api.sessions() as held:
            await held.connection()  # the pool's only connection, held
            response = await api.post("/v1/track", {"userId": "u-busy", "event": "Product Added"}, settle=False)
        assert response.status_code == 503 and response.headers["Retry-After"]
        # Once it is free again, the same call is stored.
        again = await api.post("/v1/track", {"userId": "u-busy", "event": "Product Added"}, settle=False)
        assert again.status_code == 200


async def test_a_database_that_is_down_gets_503(env: WorkflowEnvironment, settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/none",
                                       "router": False})
    async with open_api(down, env.client) as api:
        response = await api.post("/v1/track", {"userId": "u", "event": "Product Added"}, settle=False)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "database is unavailable" in response.json()["error"]


async def test_a_poison_event_is_parked_dead_and_holds_nobody_back(
    env: WorkflowEnvironment, settings: Settings, sessions: Any
) -> None:
    """The issue's reproduction: a stored event nested 600 deep that no journey can
    take. Everyone else's events go through once; it is retried, then parked dead;
    an operator sees it, retries it and discards it."""
    poisoned = settings.model_copy(update={"route_retry_seconds": 0.05, "route_max_attempts": 3})
    victim = f"poison-{uuid.uuid4().hex[:8]}"
    deep: Any = 1
    for _ in range(600):
        deep = {"a": deep}
    poison_id = f"poison-{victim}"
    async with sessions() as session:  # as an older version stored it
        await session.execute(insert(Event).values(
            message_id=poison_id, type="track", customer_id=victim, name="Product Added",
            properties={"deep": deep}, context={}, timestamp=utcnow(), received_at=utcnow()))
        await session.commit()
    others = [f"fine-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    async with open_api(poisoned, env.client) as api:
        for c in others:
            await api.track(c, "Product Added", ADDED, messageId=f"m-{c}")
        await api.track(victim, "Product Added", ADDED, messageId=f"later-{victim}")
        await wait_until(lambda: _is(sessions, poison_id, "dead"))

        for c in others:
            assert await delivered(env.client, cart_id(c)) == [f"m-{c}"], "once each, nothing repeated"
            assert await starts(env.client, cart_id(c)) == 1
        assert await delivered(env.client, cart_id(victim)) == [f"later-{victim}"], "her later event went on"
        state, attempts, error = await state_of(sessions, poison_id)
        assert (state, attempts) == ("dead", 3) and "RecursionError" in error

        dead = (await api.operator("GET", "/v1/pipeline/dead-events")).json()
        [listed] = [d for d in dead if d["message_id"] == poison_id]
        assert listed["attempts"] == 3 and "RecursionError" in listed["last_error"]
        assert (await api.operator("GET", "/v1/pipeline")).json()["dead"] >= 1
        assert (await api.operator("GET", "/v1/pipeline/dead-events", key=None)).status_code == 401

        retried = await api.operator("POST", f"/v1/pipeline/dead-events/{listed['id']}/retry")
        assert retried.status_code == 202
        await wait_until(lambda: _is(sessions, poison_id, "dead"))  # still poison: back to dead
        assert (await api.operator("DELETE", f"/v1/pipeline/dead-events/{listed['id']}")).status_code == 204
        assert (await state_of(sessions, poison_id))[0] == "discarded"
        assert (await api.operator("DELETE", f"/v1/pipeline/dead-events/{listed['id']}")).status_code == 404
        assert poison_id not in [d["message_id"] for d in (await api.operator("GET", "/v1/pipeline/dead-events")).json()]


async def _is(sessions: Any, message_id: str, state: str) -> bool:
    return (await state_of(sessions, message_id))[0] == state


class CountSignals(Interceptor):
    def __init__(self) -> None:
        self.count = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counter = self

        class Outbound(OutboundInterceptor):
            async def signal_workflow(self, input: SignalWorkflowInput) -> None:
                counter.count += 1
                await super().signal_workflow(input)

        return Outbound(next)


async def test_events_go_only_where_a_run_listens(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> None:
    """An order from someone in no journey costs no RPC; an ended run is asked once."""
    counter = CountSignals()
    client = Client(env.client.service_client, namespace=env.client.namespace, interceptors=[counter])
    shopper = f"nobody-{uuid.uuid4().hex[:8]}"
    # Cart abandonment alone: an order starts no run of it (other journeys enter on orders).
    async with open_api(settings, client, journeys=(CartAbandonment,)) as api:
        for i in range(5):
            await api.track(shopper, "Order Completed", {"order_id": f"o-{i}"})
        assert counter.count == 0, "no journey run, no signal"

        lisa = f"lisa-{uuid.uuid4().hex[:8]}"
        await api.track(lisa, "Product Added", ADDED, messageId=f"in-{lisa}")
        await env.client.get_workflow_handle(cart_id(lisa)).terminate("ended for the test")
        for i in range(3):
            await api.track(lisa, "Order Completed", {"order_id": f"late-{i}"})
        assert counter.count == 1, "the ended run answered NOT_FOUND once and is known ended"
        async with sessions() as session:
            assert await session.scalar(select(JourneyRun.ended_at).where(JourneyRun.customer_id == lisa))


async def test_an_entry_is_decided_once_even_when_routed_again(
    env: WorkflowEnvironment, settings: Settings, sessions: Any
) -> None:
    """Routing the same entry event twice (a lost lease, a crash before it was marked
    routed) never starts a second run of a journey that has since ended; and an entry
    whose start never happened is started on the retry."""
    lisa = f"lisa-{uuid.uuid4().hex[:8]}"
    async with open_api(settings, env.client) as api:
        await api.track(lisa, "Product Added", ADDED, messageId=f"entry-{lisa}")
        await env.client.get_workflow_handle(cart_id(lisa)).terminate("the journey ended")
        async with sessions() as session:  # as if the router had crashed before marking it
            await session.execute(update(Event).where(Event.message_id == f"entry-{lisa}")
                                  .values(route_state="pending", routed_at=None))
            await session.commit()
        api.app_router().notify()
        await api.settled(f"entry-{lisa}")
        assert await starts(env.client, cart_id(lisa)) == 1, "no second run"

        # Decided, but the router died before the start reached Temporal.
        nina = f"nina-{uuid.uuid4().hex[:8]}"
        async with sessions() as session:
            session.add(JourneyRun(journey="cart_abandonment", customer_id=nina, journey_key="",
                                   workflow_id=cart_id(nina), entry_message_id=f"entry-{nina}", started_at=utcnow()))
            await session.commit()
        await api.track(nina, "Product Added", ADDED, messageId=f"entry-{nina}")
        assert await delivered(env.client, cart_id(nina)) == [f"entry-{nina}"]
    # One entry each for the KPIs, recorded by the router with the run it planned (nina's
    # on the retry, her plan having none), and none by the runs themselves.
    async with sessions() as session:
        entries = (await session.execute(select(JourneyEntry.customer_id, JourneyEntry.run_id).where(
            JourneyEntry.customer_id.in_([lisa, nina])))).all()
    assert sorted(entries) == sorted([(lisa, planned_run_id(f"entry-{lisa}")), (nina, planned_run_id(f"entry-{nina}"))])
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name
                 async for e in env.client.get_workflow_handle(cart_id(nina)).fetch_history_events()
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert "record_entry" not in scheduled


async def _store_without_routing(settings: Settings, client: Client, messages: list[dict[str, Any]]) -> None:
    async with open_api(settings.model_copy(update={"router": False}), client) as api:
        for i in range(0, len(messages), 50):
            response = await api.post("/v1/batch", {"batch": messages[i:i + 50]}, settle=False)
            assert response.status_code == 200, response.text


def _interleaved(customers: list[str], per_customer: int) -> list[dict[str, Any]]:
    """Each customer's cart events, interleaved with everyone else's: the first
    enters her in the journey, the others are signals to that run."""
    return [
        {"type": "track", "userId": c, "event": "Product Added", "properties": {**ADDED, "n": i},
         "messageId": f"{c}-{i:02d}"}
        for i in range(per_customer) for c in customers
    ]


@pytest.mark.parametrize("routers", [1, 2])
async def test_each_customers_events_arrive_in_order_once(
    env: WorkflowEnvironment, settings: Settings, database_url: str, routers: int
) -> None:
    """Stored first, then routed by one router with several rounds in flight, or by
    two routers with their own connection pools (two replicas), in small batches that
    split customers across rounds: every customer's events reach her journey in the
    order received, each once."""
    customers = [f"order-{routers}-{uuid.uuid4().hex[:6]}" for _ in range(12)]
    await _store_without_routing(settings, env.client, _interleaved(customers, 8))
    racing = settings.model_copy(update={"router_batch": 7, "router_loops": 3, "router_poll_seconds": 0.05})
    engines = [make_engine(database_url) for _ in range(routers)]
    tasks = [asyncio.create_task(Router(env.client, racing, make_sessionmaker(e), specs()).run_forever())
             for e in engines]
    sessions = make_sessionmaker(engines[0])
    try:
        ids = [f"{c}-{i:02d}" for c in customers for i in range(8)]

        async def done() -> bool:
            async with sessions() as session:
                return not await session.scalar(select(func.count()).select_from(Event).where(
                    Event.message_id.in_(ids), Event.route_state != "routed"))

        await wait_until(done, timeout=60)
        async with sessions() as session:  # a retried event is routed after later ones: say which, and why
            retried = (await session.execute(select(Event.message_id, Event.attempts, Event.last_error).where(
                Event.message_id.in_(ids), Event.attempts > 0))).all()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for engine in engines:
            await engine.dispose()
    for c in customers:
        received = await delivered(env.client, cart_id(c))
        assert received == [f"{c}-{i:02d}" for i in range(8)], f"{c}: {received}; retried: {retried}"
        assert await starts(env.client, cart_id(c)) == 1


async def test_the_cart_journey_still_reads_its_events(env: WorkflowEnvironment, api: Api, worker: Any) -> None:
    """A smoke check that the router's start input is what the kit takes."""
    lisa = f"lisa-{uuid.uuid4().hex[:8]}"
    await api.track(lisa, "Product Added", ADDED)
    handle = env.client.get_workflow_handle_for(CartAbandonment.run, cart_id(lisa))
    state = await handle.query("state")
    assert state["entered_at"] and state["customer_id"] == lisa
    try:
        await handle.terminate("test over")
    except RPCError:
        pass


async def test_a_run_the_router_starts_has_her_profile_from_its_start_input(
        env: WorkflowEnvironment, api: Api, worker: Any) -> None:
    """Her time zone and traits as the router read them when it planned her entry (her
    contact data left out): the run reads no profile of its own."""
    lisa = f"lisa-{uuid.uuid4().hex[:8]}"
    await api.post("/v1/identify", {"userId": lisa, "traits": {"email": f"{lisa}@mail.test", "timezone": "Asia/Tokyo",
                                                               "skin_type": "dry"}})
    await api.track(lisa, "Product Added", ADDED)
    handle = env.client.get_workflow_handle(cart_id(lisa))
    await env.fast_forward(handle, timedelta(hours=3))  # past the wait that reads her time zone
    history = [e async for e in handle.fetch_history_events()]
    started = history[0].workflow_execution_started_event_attributes.input.payloads[0].data
    profile = json.loads(started)["profile"]
    assert (profile["customer_id"], profile["timezone"], profile["traits"].get("skin_type"), profile["email"]) == (
        lisa, "Asia/Tokyo", "dry", None)
    assert "email" not in profile["traits"]
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert "load_profile" not in scheduled and "record_entry" not in scheduled, scheduled
    await handle.terminate("test over")


async def test_a_journey_predicate_that_raises_is_a_poison_event_not_a_stalled_router(
    env: WorkflowEnvironment, settings: Settings, sessions: Any
) -> None:
    """Journey code runs in the router (entry predicates). One event that makes it
    raise is retried and parked dead; the events around it are routed."""
    from tests.support.journeys import FussyProbe

    fussy = settings.model_copy(update={"route_retry_seconds": 0.05, "route_max_attempts": 2})
    bad, good = f"bad-{uuid.uuid4().hex[:8]}", f"good-{uuid.uuid4().hex[:8]}"
    async with open_api(fussy, env.client, journeys=(FussyProbe,)) as api:
        await api.post("/v1/batch", {"batch": [
            {"type": "track", "userId": bad, "event": "Fussy", "properties": {"n": 0}, "messageId": f"m-{bad}"},
            {"type": "track", "userId": good, "event": "Fussy", "properties": {"n": 1}, "messageId": f"m-{good}"},
        ]})
        assert await delivered(env.client, f"probe_fussy:{good}") == [f"m-{good}"]
        await wait_until(lambda: _is(sessions, f"m-{bad}", "dead"))
        assert "ZeroDivisionError" in (await state_of(sessions, f"m-{bad}"))[2]


async def test_an_entry_for_a_run_the_records_dont_know_signals_that_run(
    env: WorkflowEnvironment, settings: Settings, sessions: Any
) -> None:
    """Another deployment on the same namespace, or a restored database, started her
    run: the entry reaches it as an event, and is not parked as a poison event."""
    lisa = f"lisa-{uuid.uuid4().hex[:8]}"
    foreign = await env.client.start_workflow(
        CartAbandonment.run, JourneyStart(customer_id=lisa), id=cart_id(lisa), task_queue=settings.task_queue,
    )
    try:
        async with open_api(settings, env.client) as api:
            response = await api.post("/v1/track", {"userId": lisa, "event": "Product Added", "messageId": "m-1",
                                                    "properties": ADDED})
            assert response.status_code == 200
            assert await state_of(sessions, "m-1") == ("routed", 0, None)
        assert await delivered(env.client, cart_id(lisa)) == ["m-1"]
        assert await starts(env.client, cart_id(lisa)) == 1
        async with sessions() as session:  # an event for that run, no entry of its own
            assert (await session.scalars(select(JourneyEntry).where(JourneyEntry.customer_id == lisa))).all() == []
    finally:
        await foreign.terminate("test over")
