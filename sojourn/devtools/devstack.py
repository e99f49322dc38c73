"""`make dev`: the whole stack on embedded defaults, in one terminal.

Temporal dev server (SQLite file under var/, UI on :8233), the SMTP catcher (unless
SOJOURN_SMTP_HOST is set), the local push inbox, the worker, the API and the demo
shop (http://localhost:3000). Ctrl-C stops all of it; so does
any one of them dying.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sojourn.coupons import pools, wheels
from sojourn.devtools import demoshop
from sojourn.ground import migrate
from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.settings import Settings, get_settings
from sojourn.ground.temporal import dev_server_flags

DEV_WRITE_KEY = "dev-write-key"
DEV_SERVER_KEY = "dev-server-key"
DEV_IDENTITY_SECRET = "dev-identity-secret"
DEV_OPERATOR_KEY = "dev-operator-key"
DEV_MARKETER_KEY = "dev-marketer-key"
DEV_FIRST_ORDER_CODES = 100  # per pool
_PR_SET_PDEATHSIG = 1  # prctl(2)


def dev_pools(settings: Settings) -> list[str]:
    """The pools the registered journeys draw from: the first-purchase incentive's
    `first_order`, post-purchase's `second_order`, win-back's `win_back`, the referral's `referral_friend` and `referral_reward`, and each prize of the lead-capture wheel."""
    wheel = wheels.load(settings.templates_dir, settings.lead_wheel)
    return ["first_order", "second_order", "win_back", "referral_friend", "referral_reward", *(s.offer for s in (wheel.slices if wheel else ()) if s.offer)]


async def stock_pools(database_url: str, offers: list[str]) -> None:
    """A newcomer's pools start with some codes (a shop fills its own with `sojourn coupons`)."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            for offer in offers:
                if not await pools.available(session, offer):
                    await pools.generate(session, offer, DEV_FIRST_ORDER_CODES, prefix="DEV-")
            await session.commit()
    finally:
        await engine.dispose()


async def stock_demo(database_url: str, shop_url: str) -> None:
    """The demo shop's catalog, the marketer's stories on its home page, and a past for
    the likelihood model to learn from."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            await demoshop.stock(session, shop_url)
            if past := await demoshop.stock_past(session, datetime.now(UTC)):
                print(f"The demo shop's past: {past} events of {demoshop.PAST_SHOPPERS} shoppers over "
                      f"{demoshop.PAST_DAYS} days", flush=True)
            await session.commit()
    finally:
        await engine.dispose()


def _command(proc: subprocess.Popen[bytes], parts: int = 3) -> str:
    """The program and its first arguments, to say which part of the stack stopped."""
    args = proc.args if isinstance(proc.args, (list, tuple)) else [proc.args]
    return " ".join(map(str, args[:parts]))


def _wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{_command(proc, 1)} exited with {proc.returncode} while starting")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def _die_with_parent(parent: int) -> None:
    """In the child, before it runs: SIGTERM when `sojourn dev` dies, even by SIGKILL.

    A child in its own session outlives a parent that is killed outright. A worker left
    so retries its server's address for good, and joins whatever Temporal listens there
    next: a later stack's, whose tasks it then takes and runs against its own database
    and SMTP server (seen with the SDK: a worker whose server was killed ran a workflow
    started on a new server at the same address). Linux only; elsewhere, as before."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the line above: as if just now
            os.kill(os.getpid(), signal.SIGTERM)


def temporal_cli() -> str:
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else "temporal"


def run() -> int:
    env = dict(os.environ)
    if not env.get("SOJOURN_WRITE_KEYS"):
        env["SOJOURN_WRITE_KEYS"] = DEV_WRITE_KEY
    if not env.get("SOJOURN_SERVER_KEYS"):
        env["SOJOURN_SERVER_KEYS"] = DEV_SERVER_KEY
    if not env.get("SOJOURN_IDENTITY_SECRET"):
        env["SOJOURN_IDENTITY_SECRET"] = DEV_IDENTITY_SECRET
    if not env.get("SOJOURN_OPERATOR_KEYS"):
        env["SOJOURN_OPERATOR_KEYS"] = DEV_OPERATOR_KEY
    if not env.get("SOJOURN_MARKETER_KEYS"):
        env["SOJOURN_MARKETER_KEYS"] = DEV_MARKETER_KEY
    # The demo's win-back: she lapses seconds after "her last order was 60 days ago";
    # the sweep that finds her runs every 10 s rather than hourly.
    env.setdefault("SOJOURN_SEGMENT_SWEEP_SECONDS", "10")
    # Her likelihood to buy is trained and scored again every minute rather than daily,
    # so what she does in the demo shop shows on her page soon after.
    env.setdefault("SOJOURN_LIKELIHOOD_REFRESH_SECONDS", "60")
    shop_port = int(env.get("SOJOURN_DEMO_SHOP_PORT") or 3000)
    if not env.get("SOJOURN_CORS_ORIGINS"):  # the demo shop, by either name
        env["SOJOURN_CORS_ORIGINS"] = f"http://localhost:{shop_port},http://127.0.0.1:{shop_port}"
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    # The local push inbox stands in for the browsers' push services: the worker may
    # reach it, on loopback, in development only.
    inbox = f"127.0.0.1:{settings.push_inbox_port}"
    env["SOJOURN_PUSH_ALLOWED_HOSTS"] = ",".join([*settings.push_allowed_hosts, inbox])
    env["SOJOURN_OUTBOUND_ALLOW_LOOPBACK"] = "true"
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    var = settings.var_dir
    var.mkdir(parents=True, exist_ok=True)
    migrate.upgrade()
    asyncio.run(stock_pools(settings.database_url, dev_pools(settings)))
    asyncio.run(stock_demo(settings.database_url, f"http://localhost:{settings.demo_shop_port}"))

    host, port = settings.temporal_address.rsplit(":", 1)
    procs: list[subprocess.Popen[bytes]] = []

    def start(*cmd: str) -> subprocess.Popen[bytes]:
        # Own process group, so the terminal's Ctrl-C reaches us first and we stop
        # the children in order; and each dies with us however we die (_die_with_parent).
        proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                                preexec_fn=functools.partial(_die_with_parent, os.getpid()))
        procs.append(proc)
        return proc

    def stop_all(*_: object) -> None:
        # Temporal (started first) last: a worker stopping still hands its last tasks to
        # the server, rather than retrying a server already gone for ~10 s before it exits.
        temporal_first, the_rest = procs[:1], procs[1:]
        for group in (the_rest[::-1], temporal_first):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            deadline = time.monotonic() + 15
            for proc in group:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        temporal = start(
            temporal_cli(), "server", "start-dev",
            "--ip", host if host not in ("localhost",) else "127.0.0.1",
            "--port", port,
            "--ui-port", str(settings.temporal_ui_port),
            "--db-filename", str(var / "temporal.db"),
            *dev_server_flags(),
            "--log-level", "error",
        )
        _wait_for_port("127.0.0.1", int(port), temporal)
        if not settings.smtp_host:
            catcher = start(sys.executable, "-m", "sojourn.devtools.cli", "smtp-catcher")
            _wait_for_port("127.0.0.1", settings.smtp_port, catcher)
        pushes = start(sys.executable, "-m", "sojourn.devtools.pushinbox", "--port", str(settings.push_inbox_port),
                       "--dir", str(var / "push"), "--sojourn-url", f"http://{settings.api_host}:{settings.api_port}",
                       "--server-key", settings.server_keys[0] if settings.server_keys else "")
        _wait_for_port("127.0.0.1", settings.push_inbox_port, pushes)
        start(sys.executable, "-m", "sojourn.devtools.cli", "worker")
        api = start(sys.executable, "-m", "sojourn.devtools.cli", "api")
        _wait_for_port(settings.api_host, settings.api_port, api)
        shop = start(sys.executable, "-m", "sojourn.devtools.demoshop", "--port", str(settings.demo_shop_port),
                     "--api-url", settings.public_url, "--write-key", settings.write_keys[0],
                     "--identity-secret", settings.identity_secret or "",
                     "--inbox-url", f"http://127.0.0.1:{settings.push_inbox_port}",
                     "--server-key", settings.server_keys[0] if settings.server_keys else "")
        _wait_for_port("127.0.0.1", settings.demo_shop_port, shop)
        print(
            f"\nSojourn is up.\n"
            f"  API          http://{settings.api_host}:{settings.api_port}  (write key: {settings.write_keys[0]}, server key: {settings.server_keys[0]}, operator key: {settings.operator_keys[0]})\n"
            f"  Dashboard    http://{settings.api_host}:{settings.api_port}/dashboard  (any user name; password: the marketer key {settings.marketer_keys[0] if settings.marketer_keys else ''})\n"
            f"  Demo shop    http://localhost:{settings.demo_shop_port}  (Lisa's story in a browser: see the README)\n"
            f"  Temporal UI  http://localhost:{settings.temporal_ui_port}\n"
            f"  Mail         {'saved under ' + str(var / 'mail') if not settings.smtp_host else settings.smtp_host}\n"
            f"  Web push     saved under {var / 'push'}; give a customer a browser: "
            f"curl -X POST 'http://127.0.0.1:{settings.push_inbox_port}/subscribe?customer=lisa'\n"
            f"  Time scale   x{settings.time_scale:g}\n"
            f"Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stopping:
            if any(p.poll() is not None for p in procs):
                dead = next(p for p in procs if p.poll() is not None)
                print(f"{_command(dead)} exited ({dead.returncode}); stopping", flush=True)
                return 1
            time.sleep(0.3)
        return 0
    finally:
        stop_all()
        print("Sojourn stopped.", flush=True)
