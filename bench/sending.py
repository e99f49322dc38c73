"""How fast Sojourn sends, against a hand-written sender to the same receivers in the same run.

The baseline (issue #30) is what a competent hand-written sender does for the same
message: the raw library (aiosmtplib, pywebpush) plus rendering the same template
files with plain Jinja, compiled once, per message. Sojourn's durable claim and outcome
are its own cost.

- **Emails/s** through the email send activity (`EmailActivities.send_email`: the
  ledger's claim under her frequency cap, her profile, consent and suppressions, the
  template in the sandbox, signed tracked links and unsubscribe URL, the pooled SMTP
  connection, the outcome recorded), divided by the baseline: Jinja and raw aiosmtplib
  (a message built per send) to the same SMTP server over as many kept-open
  connections, at the same concurrency. Goal on PostgreSQL: >= 0.6.
- **Pushes/s** through the push send activity (the same ledger work, one row per
  browser, the template, VAPID, RFC 8291 encryption) divided by the baseline: Jinja and
  raw pywebpush (`webpush_async` with the VAPID key and claims, as its README shows,
  and one shared aiohttp session) to the same push service, which checks each VAPID JWT
  and decrypts each payload. Goal on PostgreSQL: >= 0.5.
- **Event-to-send latency**, p50 and p99: from the start of her `track` call to the
  API (over HTTP) until the SMTP server has her email, for a journey whose first step
  sends at once (`BenchWelcome` below), through the store, the router, the Temporal dev
  server, the worker and the send activity. Events go one at a time. Goal: p50 < 250 ms.

The receivers run in their own process (bench/receivers.py). The activities run as
the worker runs them, with Temporal's ActivityEnvironment handing them their context;
what Temporal adds per activity is in the latency figure, not in the rates.

    make bench      (or: BENCH_SEND_N=1000 BENCH_ONLY=postgresql .venv/bin/python -m bench.sending)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any

import aiohttp
import aiosmtplib
import jinja2
import uvicorn
from pywebpush import webpush_async
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.email import EmailActivities, message_id
from activities.profiles import template_context
from activities.push import PushActivities
from activities.rendering import ContentTemplates
from bench.pipeline import AUTH, KEY, bounded, free_port, percentile, postgres
from bench.welcome import BenchWelcome
from sojourn.content.store import ContentStore
from sojourn.devtools.devstack import temporal_cli
from sojourn.ground.contracts import Send
from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.migrate import upgrade
from sojourn.ground.models import Customer, PushSubscription
from sojourn.ground.settings import Settings
from sojourn.ground.signing import load_signer
from sojourn.ground.temporal import dev_server_flags
from sojourn.ground.vapid import load_vapid_keys
from sojourn.intelligence import catalog
from worker import settle_heap
from workflows.registry import JOURNEYS

N = int(os.environ.get("BENCH_SEND_N", "1000"))
LATENCY_N = int(os.environ.get("BENCH_LATENCY_N", "100"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))  # raw and Sojourn alternate; the median ratio is reported
ONLY = {s for s in os.environ.get("BENCH_ONLY", "").split(",") if s}


class Receivers:
    def __init__(self, browsers: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.receivers", "--browsers", str(browsers)],
                                     stdout=subprocess.PIPE, text=True)
        first = json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]
        self.smtp_port: int = first["smtp_port"]
        self.push_url: str = first["push_url"]
        self.subscriptions: list[dict[str, Any]] = first["subscriptions"]

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(2)
        out, _ = self.proc.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


def settings_for(database_url: str, receivers: Receivers, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url, smtp_host="127.0.0.1", smtp_port=receivers.smtp_port,
        email_from="Beauty Shop <hello@beauty.test>", push_allowed_hosts=["127.0.0.1:*"],
        outbound_allow_loopback=True, vapid_subject="mailto:ops@beauty.test", store_url="https://beauty.test",
        public_url="https://sojourn.test", frequency_caps="email=3/24h,push=3/24h", write_keys=[KEY],
        server_keys=[KEY],  # the shop's backend: it may set her email
        task_queue=f"bench-send-{uuid.uuid4().hex[:8]}", worker_metrics_address="", **extra,
    )


def a_send(customer_id: str, step: str) -> Send:
    return Send(key=f"cart_abandonment:{customer_id}/run-1/{step}", customer_id=customer_id,
                journey="cart_abandonment", workflow_id=f"cart_abandonment:{customer_id}", step=step,
                template="cart_abandonment",
                data={"items": [{"name": "Velvet Lipstick", "quantity": 1, "price": 24, "product_id": "lip-42"}],
                      "cart_id": "c-1"})


async def customers(sessions: Any, tag: str, subscriptions: list[dict[str, Any]]) -> list[str]:
    ids = [f"act-{tag}-{i}" for i in range(N)]
    async with sessions() as session:
        session.add_all(Customer(id=c, email=f"{c}@bench.test", first_name="Lisa", traits={}, known=True) for c in ids)
        await session.flush()
        session.add_all(PushSubscription(customer_id=c, endpoint=s["endpoint"] + f"?{tag}", p256dh=s["keys"]["p256dh"],
                                         auth=s["keys"]["auth"]) for c, s in zip(ids, subscriptions))
        await session.commit()
    return ids


async def emails_through_activity(settings: Settings, sessions: Any, ids: list[str]) -> float:
    # The worker's templates: the published content, at the revision each send claims.
    email = EmailActivities(settings, sessions, ContentTemplates(ContentStore(sessions, settings.templates_dir)))
    statuses: list[str] = []

    async def one(i: int) -> None:
        statuses.append((await ActivityEnvironment().run(email.send_email, a_send(ids[i], "email_24h"))).status)

    rate = N / await bounded(N, CONCURRENCY, one)
    assert statuses.count("sent") == N, {s: statuses.count(s) for s in set(statuses)}
    return rate


class RawTemplates:
    """What a hand-written sender renders: the same template files with plain Jinja,
    each compiled once, rendered per message with her name and her cart."""

    def __init__(self, settings: Settings, context: dict[str, Any]) -> None:
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(settings.templates_dir)),
                                      autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                                                          default_for_string=False),
                                      trim_blocks=True, lstrip_blocks=True)
        self.context = context

    def _for(self, i: int) -> dict[str, Any]:
        return {**self.context, "customer": {**self.context["customer"], "id": f"raw-{i}", "first_name": "Lisa"}}

    def email(self, i: int) -> tuple[str, str, str]:
        context = self._for(i)
        return (" ".join(self.env.get_template("email/cart_abandonment.subject.txt").render(context).split()),
                self.env.get_template("email/cart_abandonment.txt").render(context),
                self.env.get_template("email/cart_abandonment.html").render(context))

    def push(self, i: int) -> tuple[str, int, dict[str, str]]:
        """The payload, and the TTL and headers the template's options ask for."""
        notification = json.loads(self.env.get_template("push/cart_abandonment.json").render(self._for(i)))
        ttl, urgency = int(notification.pop("ttl")), str(notification.pop("urgency"))
        return json.dumps(notification), ttl, {"Urgency": urgency, "Topic": str(notification["tag"])[:32]}


async def raw_templates(settings: Settings, sessions: Any) -> RawTemplates:
    """The context the activity's templates see, for a raw sender's Jinja."""
    context = template_context(settings, await load_signer(sessions, settings), None, a_send("raw", "email_24h"))
    context["unsubscribe_url"] = f"{settings.public_url}/v1/unsubscribe/x"
    context["recommendations"] = {kind: [] for kind in catalog.KINDS}
    return RawTemplates(settings, context)


async def emails_raw(settings: Settings, templates: RawTemplates, tag: str) -> float:
    """aiosmtplib alone, with Jinja: the template rendered and a message built per send,
    over kept-open connections."""
    idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
    for _ in range(settings.smtp_pool_size):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=settings.smtp_port)
        await client.connect()
        idle.put_nowait(client)

    async def one(i: int) -> None:
        subject, text, html = templates.email(i)
        msg = EmailMessage()
        msg["From"] = settings.email_from
        msg["To"] = formataddr(("Lisa", f"raw-{tag}-{i}@bench.test"))
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = message_id(f"raw-{tag}-{i}")
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        client = await idle.get()
        try:
            await client.send_message(msg)
        finally:
            idle.put_nowait(client)

    try:
        return N / await bounded(N, CONCURRENCY, one)
    finally:
        while not idle.empty():
            idle.get_nowait().close()


async def pushes_through_activity(settings: Settings, sessions: Any, ids: list[str]) -> float:
    push = PushActivities(settings, sessions, ContentTemplates(ContentStore(sessions, settings.templates_dir)))
    statuses: list[str] = []

    async def one(i: int) -> None:
        statuses.append((await ActivityEnvironment().run(push.send_push, a_send(ids[i], "push_1h"))).status)

    rate = N / await bounded(N, CONCURRENCY, one)
    assert statuses.count("sent") == N, {s: statuses.count(s) for s in set(statuses)}
    return rate


async def pushes_raw(settings: Settings, sessions: Any, subscriptions: list[dict[str, Any]],
                     templates: RawTemplates) -> float:
    """pywebpush alone, with Jinja: render, encrypt, sign the VAPID claims, POST; one
    shared HTTP session."""
    key = (await load_vapid_keys(sessions, settings)).private_key
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        async def one(i: int) -> None:
            payload, ttl, headers = templates.push(i)
            response = await webpush_async(
                subscription_info=subscriptions[i], data=payload, vapid_private_key=key,
                vapid_claims={"sub": settings.vapid_subject}, ttl=ttl,
                headers=headers, aiohttp_session=http, timeout=30,
            )
            assert response.status == 201, response.status

        return N / await bounded(N, CONCURRENCY, one)


async def latency(env: WorkflowEnvironment, settings: Settings, sessions: Any, receivers: Receivers,
                  tag: str) -> dict[str, Any]:
    """Her `track` call to the API, until the SMTP server has her welcome email."""
    from api.main import create_app
    from worker import build_worker

    port = free_port()
    app = create_app(settings, env.client, journeys=(*JOURNEYS, BenchWelcome))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    sent_at: dict[str, float] = {}
    async with build_worker(env.client, settings, sessions, extra_workflows=[BenchWelcome]), \
            aiohttp.ClientSession(headers=AUTH) as http:
        for i in range(LATENCY_N + 5):  # the first five warm up
            who = f"lat-{tag}{i}"
            async with http.post(f"{base}/v1/identify", json={"userId": who, "traits": {
                    "email": f"{who}@bench.test", "first_name": "Lisa"}}) as answer:
                assert answer.status == 200, await answer.text()
            await asyncio.sleep(0.05)
            began = time.time()
            async with http.post(f"{base}/v1/track", json={"userId": who, "event": "Signed Up",
                                                           "messageId": str(uuid.uuid4())}) as answer:
                assert answer.status == 200, await answer.text()
            if i >= 5:
                sent_at[who] = began
            await asyncio.sleep(0.3)  # one at a time: latency, not throughput
        await asyncio.sleep(2)
    server.should_exit = True
    await serving
    return {"sent_at": sent_at}


async def scenario(env: WorkflowEnvironment, label: str, database_url: str, receivers: Receivers) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    settings = settings_for(database_url, receivers)
    try:
        raw = await raw_templates(settings, sessions)
        await emails_raw(settings, raw, "warm")  # connections, imports and caches warm for both
        settle_heap()  # as the worker does once started (worker.py); the raw senders share it
        runs = []
        for rep in range(REPEATS):
            ids = await customers(sessions, f"{label}{rep}", receivers.subscriptions)
            phases = [("raw_email", lambda: emails_raw(settings, raw, f"{label}{rep}")),
                      ("email", lambda: emails_through_activity(settings, sessions, ids)),
                      ("raw_push", lambda: pushes_raw(settings, sessions, receivers.subscriptions, raw)),
                      ("push", lambda: pushes_through_activity(settings, sessions, ids))]
            if rep % 2:  # alternate which goes first, so a drift of the machine favours neither
                phases = [phases[1], phases[0], phases[3], phases[2]]
            run: dict[str, float] = {}
            for name, phase in phases:
                run[name] = await phase()
                print(f"  {label} run {rep + 1}: {name} {run[name]:.0f}/s", file=sys.stderr)
            run["email_ratio"] = run["email"] / run["raw_email"]
            run["push_ratio"] = run["push"] / run["raw_push"]
            runs.append(run)
        out: dict[str, Any] = {}
        for kind in ("email", "push"):
            median = sorted(runs, key=lambda r: r[f"{kind}_ratio"])[len(runs) // 2]
            out[kind] = {"sojourn_per_s": round(median[kind]), "raw_per_s": round(median[f"raw_{kind}"]),
                         "ratio": round(median[f"{kind}_ratio"], 2),
                         "ratios_of_all_runs": [round(r[f"{kind}_ratio"], 2) for r in runs]}
        out["latency"] = await latency(env, settings, sessions, receivers, label)
        return out
    finally:
        await engine.dispose()


async def main() -> None:
    temporal = temporal_cli()
    env = await WorkflowEnvironment.start_local(port=free_port(), dev_server_existing_path=temporal,
                                                dev_server_extra_args=dev_server_flags())
    receivers = Receivers(N)
    results: dict[str, Any] = {"n": N, "concurrency": CONCURRENCY, "cores": os.cpu_count()}
    try:
        async with env:
            if not ONLY or "sqlite" in ONLY:
                with tempfile.TemporaryDirectory() as tmp:
                    results["sqlite"] = await scenario(env, "sq", f"sqlite+aiosqlite:///{tmp}/bench.db", receivers)
            if not ONLY or "postgresql" in ONLY:
                async with postgres() as url:
                    if url:
                        results["postgresql"] = await scenario(env, "pg", url, receivers)
    finally:
        received = receivers.stop()
    # Every message each phase counted as sent reached the receivers, and nothing twice.
    expected_email = N * REPEATS * sum(1 for k in ("sqlite", "postgresql") if k in results)
    assert received["email"].get("email:act", 0) == expected_email, received["email"]
    assert received["pushes"] == 2 * expected_email, (received["pushes"], received["rejections"])

    print(f"{'database':12} {'channel':8} {'sojourn/s':>10} {'raw/s':>7} {'ratio':>6}  (goal on PostgreSQL: email >= 0.6, push >= 0.5)")
    for name in ("sqlite", "postgresql"):
        if name not in results:
            continue
        for kind in ("email", "push"):
            r = results[name][kind]
            print(f"{name:12} {kind:8} {r['sojourn_per_s']:10} {r['raw_per_s']:7} {r['ratio']:5.2f}x  "
                  f"(runs: {', '.join(f'{x:.2f}' for x in r['ratios_of_all_runs'])})")
        sent_at = results[name]["latency"].pop("sent_at")
        delays = [(received["arrivals"][who] - began) * 1000 for who, began in sent_at.items()
                  if who in received["arrivals"]]
        assert len(delays) == len(sent_at), f"{len(sent_at) - len(delays)} welcome emails never arrived"
        results[name]["latency"] = {"events": len(delays), "p50_ms": round(percentile(delays, 50), 1),
                                    "p99_ms": round(percentile(delays, 99), 1), "max_ms": round(max(delays), 1)}
        lat = results[name]["latency"]
        print(f"{name:12} event to send, {lat['events']} events one at a time: p50 {lat['p50_ms']} ms, "
              f"p99 {lat['p99_ms']} ms (goal p50 < 250 ms)")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
