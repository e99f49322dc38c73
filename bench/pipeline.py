"""The event pipeline, measured end to end against the raw baseline in the same run.

Real parts only: a Temporal dev server, `sojourn worker` processes running the
journeys, and `sojourn api` processes (uvicorn, router inside) reached over HTTP.

- accept: calls answered per second, and p50/p99 latency, for single `track` calls
  and for SDK-style `/v1/batch` calls of 50;
- end to end, as information: cart journeys whose workflow exists per second (the
  router has started them), divided by the raw SDK start of the same journey as the
  router starts it (`raw_start`), on the same server with the same worker;
- on SQLite, on PostgreSQL, and on PostgreSQL with two API processes;
- CPU per journey, per process kind and for the whole machine (PostgreSQL included),
  from /proc, for each phase: what a journey costs, beside the raw baseline;
- Sojourn's share (issue #30): its own CPU per routed journey (the API, its router and
  the database) beside the Temporal server's per raw start of the same journey. Goals:
  <= 1/3 for single `track` calls, <= 1/10 for batches of 50;
- the worker's CPU per journey start beside a raw workflow with the same first steps
  and the same sandbox setting (bench/raw_worker.py), each started raw in a worker
  process of its own. Goal: <= 1.5x;
- the server alone: raw starts with no worker, and how many cores that keeps busy.

The end-to-end ratio is kept as information: Sojourn and the dev server share the same
2 cores, so it moves +-20% from run to run.

Each mode runs BENCH_REPEATS times, raw and API alternating which goes first; the
run with the median ratio is reported, with all ratios. Between phases the bench waits until the server, the worker and the APIs are idle,
so no phase pays for the previous one's backlog (the worker runs each started
journey's first task well after its start returned).

    make bench          (BENCH_N=1000 BENCH_CONCURRENCY=32 BENCH_REPEATS=3 make bench)
    BENCH_ONLY=postgresql BENCH_MODES=single BENCH_ROUTER=process BENCH_API_LOG=/tmp/api.log make bench
      (one scenario and mode; the router as its own `sojourn router` process; the API's log)
    BENCH_TRACE=1 ...   (journeys started so far, every half second)
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from sojourn.devtools.devstack import temporal_cli
from sojourn.ground.db import make_engine, make_sessionmaker
from sojourn.ground.events import SIGNAL, JourneyEvent
from sojourn.ground.migrate import upgrade
from sojourn.ground.models import Event
from sojourn.ground.spec import start_attributes, start_input
from sojourn.ground.temporal import dev_server_flags
from sojourn.identity.profiles import profile_of
from workflows.registry import by_name

N = int(os.environ.get("BENCH_N", "600"))
# BENCH_ONLY=postgresql (or sqlite, postgresql_2_apis; comma-separated) runs just those.
REPEATS = int(os.environ.get("BENCH_REPEATS", "1"))  # raw and API phases, alternated; the median is reported
ONLY = {s for s in os.environ.get("BENCH_ONLY", "").split(",") if s}
MODES = [m for m in os.environ.get("BENCH_MODES", "single,batch50").split(",") if m]
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
BATCH = 50
KEY = "bench-key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
CART = by_name("cart_abandonment").spec  # type: ignore[union-attr]
PRODUCT = {"product_id": "lip-42", "name": "Velvet Lipstick", "price": 24, "cart_id": "c-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def bounded(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            await one(i)

    start = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(n)))
    return time.perf_counter() - start


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces): state, ppid, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _descendants() -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        if fields := _stat(pid):
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def _names(pids: list[int]) -> dict[int, str]:
    names = {}
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        names[pid] = " ".join(Path(c.decode()).name for c in cmd[:3] if c)  # python sojourn api
    return names


def _machine_busy() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def _database_pids() -> list[int]:
    """PostgreSQL's processes (its server and every backend): not ours, so found by name."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(f"/proc/{entry.name}/comm").read_text().strip().startswith("postgres"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU seconds per process kind (server, worker, api, database, ...) and for the
    whole machine over one phase: what each journey costs. `database` is PostgreSQL's
    processes (on SQLite the database works inside the API)."""

    def __enter__(self) -> CpuMeter:
        self.database = set(_database_pids())
        self.pids = _descendants() + [os.getpid()] + sorted(self.database)
        self.names = _names(self.pids)
        self.before = {pid: _cpu_ticks([pid]) for pid in self.pids}
        self.busy = _machine_busy()
        return self

    def __exit__(self, *_: object) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        self.seconds: dict[str, float] = {}
        for pid in self.pids:
            name = self.names.get(pid, "?")
            kind = "bench" if pid == os.getpid() else "database" if pid in self.database \
                else "server" if "temporal" in name else name.split()[-1]
            self.seconds[kind] = self.seconds.get(kind, 0) + (_cpu_ticks([pid]) - self.before[pid]) / hz
        self.seconds["machine"] = (_machine_busy() - self.busy) / hz

    def per_journey_ms(self, n: int) -> dict[str, float]:
        return {k: round(v / n * 1000, 2) for k, v in self.seconds.items()}


async def quiet(limit_s: float = 90) -> None:
    """Wait until the server, the worker and the APIs are idle, so no phase pays for
    the previous one's backlog (the worker runs each started journey's first task)."""
    hz = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + limit_s
    calm = 0
    while calm < 2 and time.monotonic() < deadline:
        pids = _descendants()
        before = _cpu_ticks(pids)
        await asyncio.sleep(1)
        calm = calm + 1 if (_cpu_ticks(pids) - before) / hz < 0.15 else 0


class Stack:
    """Worker and API processes for one database, on one task queue."""

    def __init__(self, temporal: str, database_url: str, apis: int) -> None:
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ, "SOJOURN_TEMPORAL_ADDRESS": temporal, "SOJOURN_DATABASE_URL": database_url,
            "SOJOURN_TASK_QUEUE": self.queue, "SOJOURN_WRITE_KEYS": KEY, "SOJOURN_API_HOST": "127.0.0.1",
            "SOJOURN_WORKER_METRICS_ADDRESS": "",
        }
        self.ports = [free_port() for _ in range(apis)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.sojourn = str(Path(sys.executable).parent / "sojourn")

    def start(self) -> None:
        self.procs.append(subprocess.Popen([self.sojourn, "worker"], env=self.env, stderr=subprocess.DEVNULL))
        api_env = dict(self.env)
        if os.environ.get("BENCH_ROUTER") == "process":
            api_env["SOJOURN_ROUTER"] = "false"
            self.procs.append(subprocess.Popen([self.sojourn, "router"], env=self.env,
                              stderr=open(os.environ.get("BENCH_API_LOG", os.devnull), "a")))
        for port in self.ports:
            self.procs.append(subprocess.Popen(
                [self.sojourn, "api"], env={**api_env, "SOJOURN_API_PORT": str(port)},
                stdout=subprocess.DEVNULL, stderr=open(os.environ.get("BENCH_API_LOG", os.devnull), "a"),
            ))
        deadline = time.monotonic() + 60
        for port in self.ports:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"sojourn api on :{port} did not start")
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


# What start_input reads of the settings, as a shop's defaults.
_RAW_SETTINGS = type("S", (), {"time_scale": 1.0, "default_timezone": "UTC", "quiet_hours": None})()


def _entry(customer: str) -> JourneyEvent:
    return JourneyEvent(message_id=str(uuid.uuid4()), type="track", name="Product Added", customer_id=customer,
                        properties=PRODUCT)


async def raw_signal_with_start(client: Client, queue: str, tag: str, count: int = N, first: int = 0) -> float:
    """What the SDK alone does to put `count` customers in the journey (`raw-<tag>-<first>`
    on) with signal-with-start."""

    async def one(i: int) -> None:
        customer = f"raw-{tag}-{first + i}"
        event = _entry(customer)
        await client.start_workflow(
            CART.workflow_type, start_input(CART, customer, None, _RAW_SETTINGS), id=CART.workflow_id(customer),
            task_queue=queue, start_signal=SIGNAL, start_signal_args=[event],
            search_attributes=start_attributes(CART, customer), memo={"entry": event.message_id},
        )

    return count / await bounded(count, CONCURRENCY, one)


async def raw_start(client: Client, queue: str, tag: str, count: int = N, workflow: str = CART.workflow_type) -> float:
    """The baseline as the router starts a journey: a plain start whose input holds the
    entry event, her profile (a new customer's) and that the entry is recorded, so the
    run takes no activity first. What Sojourn adds (the API, the router's claim and
    records, the database) is its own share. `workflow` another type taking the same
    start (RawWait)."""

    async def one(i: int) -> None:
        customer = f"raw-{tag}-{i}"
        event = _entry(customer)
        await client.start_workflow(
            workflow, start_input(CART, customer, None, _RAW_SETTINGS, entry=event, entry_recorded=True,
                                  profile=profile_of(None, customer)),
            id=CART.workflow_id(customer), task_queue=queue, search_attributes=start_attributes(CART, customer),
            memo={"entry": event.message_id}, static_summary=f"{CART.name} for {customer}",
        )

    return count / await bounded(count, CONCURRENCY, one)


async def server_alone(client: Client) -> dict[str, Any]:
    """The same raw starts with no worker on their queue and nothing else running: what
    the dev server alone can do, and how much of the 2 cores that already takes. Any
    other work in the window (a worker's first tasks, HTTP, a database) takes from it."""
    await quiet()
    with CpuMeter() as cpu:
        began = time.perf_counter()
        rate = await raw_signal_with_start(client, f"nobody-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:6])
        elapsed = time.perf_counter() - began
    return {"starts_per_s": round(rate, 1), "cpu_ms_per_start": cpu.per_journey_ms(N),
            "busy_cores": round(cpu.seconds["machine"] / elapsed, 2)}


async def worker_beside_raw(client: Client, temporal: str, stack: Stack, tag: str) -> dict[str, Any]:
    """The worker's CPU per journey start (the cart journey, started raw, until it
    waits on its first timer) beside a raw workflow with the same first steps (the
    entry signal, a timer: bench/raw_workflow.py) and the same sandbox setting, each in
    a worker process of its own, alternating, BENCH_REPEATS times; the medians."""
    queue = f"raw-wait-{tag}"
    proc = subprocess.Popen([sys.executable, "-m", "bench.raw_worker", temporal, queue],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    phases = {"journey": (stack.queue, CART.workflow_type, "worker"),
              "raw_workflow": (queue, "RawWait", "bench.raw_worker")}
    runs: dict[str, list[float]] = {name: [] for name in phases}
    try:
        await raw_start(client, queue, f"{tag}rw-warm", count=50, workflow="RawWait")
        for rep in range(max(REPEATS, 3)):
            for name in (list(phases) if rep % 2 == 0 else list(reversed(phases))):
                on, workflow, kind = phases[name]
                await quiet()
                with CpuMeter() as cpu:
                    await raw_start(client, on, f"{tag}{name}{rep}", workflow=workflow)
                    await quiet()  # each started run's first tasks
                runs[name].append(cpu.seconds.get(kind, 0.0) / N * 1000)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    journey, raw = (sorted(runs[n])[len(runs[n]) // 2] for n in phases)
    return {"journey_ms_per_start": round(journey, 2), "raw_workflow_ms_per_start": round(raw, 2),
            "ratio": round(journey / raw, 2), "runs": {n: [round(v, 2) for v in runs[n]] for n in phases}}


async def through_api(stack: Stack, database_url: str, tag: str, batched: bool) -> dict[str, float]:
    """Send N cart entries over HTTP; time the answers, then until every journey exists."""
    latencies: list[float] = []
    ids = [f"{tag}-{i}" for i in range(N)]
    bodies = [{"type": "track", "userId": f"{tag}-c{i}", "event": "Product Added", "messageId": ids[i],
               "properties": PRODUCT} for i in range(N)]
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    # aiohttp: the load generator shares the 2 cores, so it should cost little.
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY),
                                 timeout=aiohttp.ClientTimeout(total=60))
    bases = [f"http://127.0.0.1:{p}" for p in stack.ports]

    async def post(i: int, path: str, body: Any) -> None:
        began = time.perf_counter()
        async with http.post(bases[i % len(bases)] + path, json=body, headers=AUTH) as response:
            text = await response.text()
        latencies.append(time.perf_counter() - began)
        assert response.status == 200, text

    async def routed() -> int:
        async with sessions() as session:
            return await session.scalar(select(func.count()).select_from(Event).where(
                Event.message_id.in_(ids), Event.route_state == "routed"))

    began = time.perf_counter()
    trace = asyncio.create_task(_trace(routed, began)) if os.environ.get("BENCH_TRACE") else None
    if batched:
        chunks = [bodies[i:i + BATCH] for i in range(0, N, BATCH)]
        accept_s = await bounded(len(chunks), max(2, CONCURRENCY // 8),
                                 lambda i: post(i, "/v1/batch", {"batch": chunks[i]}))
    else:
        accept_s = await bounded(N, CONCURRENCY, lambda i: post(i, "/v1/track", bodies[i]))
    while await routed() < N:
        await asyncio.sleep(0.02)
    end_to_end_s = time.perf_counter() - began
    if trace:
        trace.cancel()
    print(f"accepted in {accept_s:.2f}s, routed in {end_to_end_s:.2f}s", file=sys.stderr)
    await http.close()
    await engine.dispose()
    return {
        "accepted_events_per_s": N / accept_s,
        "calls_per_s": len(latencies) / accept_s,
        "accept_p50_ms": percentile(latencies, 50) * 1000,
        "accept_p99_ms": percentile(latencies, 99) * 1000,
        "journeys_per_s": N / end_to_end_s,
    }


async def _trace(routed: Callable[[], Awaitable[int]], began: float) -> None:
    """BENCH_TRACE=1: journeys started so far, every half second, on stderr."""
    while True:
        await asyncio.sleep(0.5)
        print(f"  {time.perf_counter() - began:5.1f}s routed {await routed()}", file=sys.stderr)


@asynccontextmanager
async def postgres() -> AsyncIterator[str | None]:
    try:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        yield None
        return
    name = f"sojourn_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def scenario(env: WorkflowEnvironment, temporal: str, label: str, database_url: str, apis: int) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, database_url)
    stack = Stack(temporal, database_url, apis)
    stack.start()
    try:
        tag = uuid.uuid4().hex[:6]
        await raw_start(env.client, stack.queue, f"{tag}w")  # warm-up
        out: dict[str, Any] = {"apis": apis}
        for mode, batched in (("single", False), ("batch50", True)):
            if mode not in MODES:
                continue
            runs = []
            for rep in range(REPEATS):
                async def raw_phase() -> tuple[float, CpuMeter]:
                    await quiet()
                    with CpuMeter() as cpu:
                        rate = await raw_start(env.client, stack.queue, f"{tag}{mode}{rep}")
                        await quiet()  # the meter includes the worker running each journey's first task
                    return rate, cpu

                async def api_phase() -> tuple[dict[str, Any], CpuMeter]:
                    await quiet()
                    with CpuMeter() as cpu:
                        result = await through_api(stack, database_url, f"{label}-{mode}-{tag}-{rep}", batched)
                        await quiet()
                    return result, cpu

                # Alternate which goes first, so a drift of the machine does not favour either.
                if rep % 2 == 0:
                    raw, raw_cpu = await raw_phase()
                    result, api_cpu = await api_phase()
                else:
                    result, api_cpu = await api_phase()
                    raw, raw_cpu = await raw_phase()
                result["raw_cpu_ms_per_journey"] = raw_cpu.per_journey_ms(N)
                result["cpu_ms_per_journey"] = api_cpu.per_journey_ms(N)
                # Sojourn's own share: its API, router and database per routed journey,
                # beside the server's CPU per raw start of the same journey.
                own = sum(result["cpu_ms_per_journey"].get(k, 0.0) for k in ("api", "router", "database"))
                result["sojourn_cpu_ms_per_journey"] = round(own, 2)
                result["server_cpu_ms_per_raw_start"] = result["raw_cpu_ms_per_journey"]["server"]
                result["sojourn_share_of_server"] = own / result["raw_cpu_ms_per_journey"]["server"]
                result["raw_starts_per_s"] = raw
                result["end_to_end_ratio"] = result["journeys_per_s"] / raw
                runs.append(result)
            # The median run by ratio, with every run kept.
            out[mode] = {**sorted(runs, key=lambda r: r["end_to_end_ratio"])[len(runs) // 2],
                         "ratios_of_all_runs": [round(r["end_to_end_ratio"], 2) for r in runs],
                         "shares_of_all_runs": [round(r["sojourn_share_of_server"], 3) for r in runs]}
        out["worker"] = await worker_beside_raw(env.client, temporal, stack, tag)
        return out
    finally:
        stack.stop()


async def main() -> None:
    temporal = temporal_cli()
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        port=port, dev_server_existing_path=temporal, dev_server_extra_args=dev_server_flags(),
    )
    results: dict[str, Any] = {"n": N, "concurrency": CONCURRENCY, "batch": BATCH, "cores": os.cpu_count(),
                               "server": "temporal dev server, in memory; one sojourn worker process"}
    async with env:
        address = f"127.0.0.1:{port}"
        results["server_alone"] = await server_alone(env.client)
        if not ONLY or "sqlite" in ONLY:
            with tempfile.TemporaryDirectory() as tmp:
                results["sqlite"] = await scenario(env, address, "sq", f"sqlite+aiosqlite:///{tmp}/bench.db", 1)
        for name, apis in (("postgresql", 1), ("postgresql_2_apis", 2)):
            if not ONLY or name in ONLY:
                async with postgres() as url:
                    if url:
                        results[name] = await scenario(env, address, name, url, apis)

    alone = results["server_alone"]
    print(f"server alone (no worker): {alone['starts_per_s']:.0f} starts/s, {alone['busy_cores']} cores busy, "
          f"{alone['cpu_ms_per_start']['machine']} ms machine CPU per start")
    print(f"{'':24} {'mode':8} {'accept/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'journeys/s':>10} {'raw/s':>7} {'ratio':>6}")
    for name in ("sqlite", "postgresql", "postgresql_2_apis"):
        for mode in ("single", "batch50"):
            if mode in results.get(name, {}):
                r = results[name][mode]
                print(f"{name:24} {mode:8} {r['accepted_events_per_s']:9.0f} {r['accept_p50_ms']:7.1f} "
                      f"{r['accept_p99_ms']:7.1f} {r['journeys_per_s']:10.0f} {r['raw_starts_per_s']:7.0f} "
                      f"{r['end_to_end_ratio']:5.2f}x  (runs: {', '.join(f'{x:.2f}' for x in r['ratios_of_all_runs'])})")
    print(f"{'':24} {'mode':8} {'Sojourn ms':>10} {'server ms':>9} {'share':>6}  (Sojourn's API, router and "
          "database per routed journey, beside the server per raw start; goal <= 1/3 single, <= 1/10 batch50)")
    for name in ("sqlite", "postgresql", "postgresql_2_apis"):
        for mode in ("single", "batch50"):
            if mode in results.get(name, {}):
                r = results[name][mode]
                print(f"{name:24} {mode:8} {r['sojourn_cpu_ms_per_journey']:10.2f} {r['server_cpu_ms_per_raw_start']:9.2f} "
                      f"{r['sojourn_share_of_server']:6.3f}  (runs: {', '.join(f'{x:.3f}' for x in r['shares_of_all_runs'])})")
        if "worker" in results.get(name, {}):
            w = results[name]["worker"]
            print(f"{name:24} worker CPU per journey start {w['journey_ms_per_start']} ms, raw workflow "
                  f"{w['raw_workflow_ms_per_start']} ms: {w['ratio']}x (goal <= 1.5x)")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
