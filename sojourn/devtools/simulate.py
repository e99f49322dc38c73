"""`sojourn simulate JOURNEY --events FILE`: play a journey's real code against a
scripted stream of her events, weeks of it in seconds, and print her timeline: what
she gets, when, and why. For reviewing a change before it ships.

Everything is real and local: a time-skipping Temporal dev server (the `temporal`
CLI that came with Sojourn), a throwaway SQLite database, the pipeline's store and
router, the worker with every registered journey, an SMTP server and a Web Push
receiver in this process that keep what is sent. Nothing leaves the machine.

The events file is JSON, a list of her events in order; `at` is when, from the start
(`"0s"`, `"30m"`, `"1h"`, `"2d"`):

    {"customer": "lisa", "traits": {"email": "lisa@example.com", "firstName": "Lisa"}, "push": true,
     "events": [
       {"at": "0s", "event": "Product Added", "properties": {"product_id": "lip-42", "name": "Velvet Lipstick"}},
       {"at": "3d", "event": "Order Completed", "properties": {"order_id": "o-1", "revenue": 24}}
     ]}

`"type": "page"` (with `properties.path`) or `"identify"` (with `traits`) script other
calls. `"push": true` gives her a browser. After the last event the journey runs on to
its end (or `--until 30d`).
"""

from __future__ import annotations

import asyncio
import email
import json
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class ScriptError(ValueError):
    """The events file can't be played; the message says where."""


def offset(text: Any, where: str) -> timedelta:
    found = re.fullmatch(r"\s*\+?(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text))
    if not found:
        raise ScriptError(f"{where}: `at` must look like 0s, 30m, 1h, 2d or 1w, not {text!r}")
    return timedelta(**{UNITS[found.group(2)]: float(found.group(1))})


@dataclass
class Scripted:
    at: timedelta
    type: str
    name: str | None
    properties: dict[str, Any]
    traits: dict[str, Any]


@dataclass
class Script:
    customer: str
    traits: dict[str, Any]
    push: bool
    events: list[Scripted] = field(default_factory=list)


def load(path: Path) -> Script:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ScriptError(f"{path}: {err}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("events"), list) or not raw["events"]:
        raise ScriptError(f"{path}: a JSON object with a non-empty `events` list")
    script = Script(str(raw.get("customer") or "lisa"), dict(raw.get("traits") or {}), bool(raw.get("push")))
    last = timedelta(0)
    for n, item in enumerate(raw["events"]):
        where = f"events[{n}]"
        if not isinstance(item, dict):
            raise ScriptError(f"{where}: an object")
        at = offset(item.get("at", "0s"), where)
        if at < last:
            raise ScriptError(f"{where}: events must be in order of `at`")
        last = at
        kind = str(item.get("type", "track"))
        if kind not in ("track", "page", "identify"):
            raise ScriptError(f"{where}: type must be track, page or identify")
        if kind == "track" and not item.get("event"):
            raise ScriptError(f"{where}: a track needs `event`")
        script.events.append(Scripted(at, kind, item.get("event") or item.get("name"),
                                      dict(item.get("properties") or {}), dict(item.get("traits") or {})))
    return script


class Outbox:
    """An SMTP server's handler that keeps each mail."""

    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.mails.append(email.message_from_bytes(envelope.original_content or b"", policy=default_policy))
        return "250 2.0.0 OK kept"


def _label(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{secs}s" if secs and not days else ""]
    return "+" + ("".join(parts) or "0s")


async def simulate(journey_name: str, script: Script, until: timedelta | None = None) -> str:
    """Play the script; return the printed report."""
    from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

    import worker as worker_module
    from sojourn.devtools.devstack import temporal_cli
    from sojourn.devtools.pushinbox import PushReceiver
    from sojourn.ground.calls import Call
    from sojourn.ground.db import make_engine, make_sessionmaker
    from sojourn.ground.migrate import upgrade
    from sojourn.ground.models import Event
    from sojourn.ground.settings import Settings
    from sojourn.ground.temporal import dev_server_flags
    from sojourn.pipeline.membership import Watch
    from sojourn.pipeline.router import Router
    from sojourn.pipeline.store import Store
    from workflows.registry import JOURNEYS, by_name

    chosen = by_name(journey_name)
    if chosen is None:
        raise ScriptError(f"no journey {journey_name!r}: one of {', '.join(j.spec.name for j in JOURNEYS)}")
    with tempfile.TemporaryDirectory(prefix="sojourn-simulate-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'simulate.db'}"
        await asyncio.to_thread(upgrade, url)
        loop = asyncio.get_running_loop()
        outbox = Outbox()
        smtp = await loop.create_server(lambda: SMTP(outbox, hostname="sojourn-simulate"), "127.0.0.1", 0)
        pushes = PushReceiver()
        await pushes.start()
        settings = Settings(
            database_url=url, smtp_host="127.0.0.1", smtp_port=smtp.sockets[0].getsockname()[1],
            push_allowed_hosts=["127.0.0.1:*"], outbound_allow_loopback=True, task_queue=f"simulate-{uuid.uuid4()}",
            frequency_caps="", time_scale=1.0, var_dir=Path(scratch), worker_metrics_address="",
        )
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        environment = await WorkflowEnvironment.start_time_skipping_v2(
            ts_config=TimeSkippingConfig(enabled=False), dev_server_existing_path=temporal_cli(),
            dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true",
                                   *dev_server_flags()])
        try:
            async with environment as env, worker_module.build_worker(env.client, settings, sessions):
                router = Router(env.client, settings, sessions, [j.spec for j in JOURNEYS])
                store = Store(sessions, router.wants, router.notify, Watch.of(router.specs))
                routing = asyncio.create_task(router.run_forever())
                try:
                    who = script.customer
                    if script.traits:
                        await store.accept([Call("identify", f"sim-{uuid.uuid4()}", who, who, None, None,
                                                    traits=script.traits)])
                    if script.push:
                        await _subscribe(sessions, who, pushes)
                    handle = env.client.get_workflow_handle(chosen.spec.workflow_id(who))
                    started_at: datetime | None = None
                    clock = timedelta(0)
                    for item in script.events:
                        if item.at > clock and started_at is not None:
                            await _forward(env, handle, item.at - clock)
                        clock = item.at
                        ids = [f"sim-{uuid.uuid4()}"]
                        await store.accept([Call(item.type, ids[0], who, who, None, item.name,
                                                    properties=item.properties, traits=item.traits)])
                        await _routed(sessions, Event, ids)
                        if started_at is None and await _exists(handle):
                            started_at = datetime.now(UTC)
                    if started_at is None:
                        return f"{journey_name}: her events never entered her ({', '.join(str(e.name) for e in script.events)})"
                    await _forward(env, handle, until)
                    state = await handle.query("state")
                    description = await handle.describe()
                finally:
                    routing.cancel()
                    await asyncio.gather(routing, return_exceptions=True)
        finally:
            smtp.close()
            await pushes.stop()
            await engine.dispose()
        return _report(chosen.spec.name, who, state, (description.status.name if description.status else 'unknown').lower(), outbox, pushes)


async def _subscribe(sessions: Any, customer_id: str, pushes: Any) -> None:
    from sojourn.ground.models import Customer, PushSubscription, utcnow

    subscription = pushes.browser(f"{customer_id}-browser").subscription(pushes.base_url)
    async with sessions() as session:
        if await session.get(Customer, customer_id) is None:
            session.add(Customer(id=customer_id, traits={}, created_at=utcnow(), updated_at=utcnow(), known=True))
            await session.flush()
        session.add(PushSubscription(customer_id=customer_id, endpoint=subscription["endpoint"],
                                     p256dh=subscription["keys"]["p256dh"], auth=subscription["keys"]["auth"]))
        await session.commit()


async def _exists(handle: Any) -> bool:
    from temporalio.service import RPCError

    try:
        await handle.describe()
        return True
    except RPCError:
        return False


async def _forward(env: Any, handle: Any, delta: timedelta | None) -> None:
    """Skip her run's time ahead, unless it is over. It may end between the look and the
    skip (its last step was already under way): the test server then refuses to skip a
    completed run, which is the end we were skipping to."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
        return
    try:
        await env.fast_forward(handle, delta)
    except RPCError:
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            raise


async def _routed(sessions: Any, event_model: Any, ids: list[str], timeout: float = 30.0) -> None:
    from sqlalchemy import func, select

    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async with sessions() as session:
            if not await session.scalar(select(func.count()).select_from(event_model).where(
                    event_model.message_id.in_(ids), event_model.route_state == "pending")):
                return
        await asyncio.sleep(0.02)
    raise RuntimeError("the router did not route her event in time")


def _report(journey: str, who: str, state: dict[str, Any], status: str, outbox: Outbox, pushes: Any) -> str:
    lines = [f"{journey} for {who}: {state.get('step')} ({status})", ""]
    timeline = state.get("timeline") or []
    start = None
    for line in timeline:
        at, what = datetime.fromisoformat(line[:19]), line[20:]
        start = start or at
        lines.append(f"  {_label(at - start):>9}  {what}")
    lines.append("")
    lines.append("What she got:")
    for mail in outbox.mails:
        lines.append(f"  email to {mail['To']}: {mail['Subject']}")
    for delivery in pushes.deliveries:
        lines.append(f"  web push: {delivery.payload.get('title')} — {delivery.payload.get('body', '')}")
    if not outbox.mails and not pushes.deliveries:
        lines.append("  nothing by email or push")
    sends = state.get("sends") or {}
    lines.append("")
    lines.append("Sends: " + (", ".join(f"{step} {outcome}" for step, outcome in sends.items()) or "none"))
    return "\n".join(lines)
