"""`make dev` without make: `sojourn dev` brings up Temporal, the SMTP catcher, the
worker and the API on embedded defaults; the README's example delivers Lisa's email
as a .eml file on the demo clock; her page shows her two journeys (cart abandonment,
the first-purchase incentive) with their steps and wake-ups, and her likelihood to
buy from a model trained on the demo shop's past; Ctrl-C stops every process cleanly; the
journey survives a restart of the stack (Temporal's SQLite file under var/); and a stack
killed outright takes its processes with it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str,  # noqa: ANN001
               stack: subprocess.Popen[str] | None = None) -> None:
    """Poll `predicate`; with `stack`, fail at once (with what it said) if the stack stops."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if stack is not None and stack.poll() is not None:
            pytest.fail(f"the stack stopped (exit {stack.returncode}) while waiting for {what}:\n{said(stack)}")
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def said(stack: subprocess.Popen[str]) -> str:
    """Everything a stopped stack printed (its processes share its output), read once."""
    if not hasattr(stack, "said"):
        stack.said = stack.communicate(timeout=40)[0] or ""  # type: ignore[attr-defined]
    return stack.said  # type: ignore[attr-defined]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def api_up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_stack(var: Path, ports: dict[str, int]) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "SOJOURN_VAR_DIR": str(var),
        "SOJOURN_DATABASE_URL": f"sqlite+aiosqlite:///{var / 'sojourn.db'}",
        "SOJOURN_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "SOJOURN_TEMPORAL_UI_PORT": str(ports["ui"]),
        "SOJOURN_API_PORT": str(ports["api"]),
        "SOJOURN_SMTP_PORT": str(ports["smtp"]),
        "SOJOURN_PUSH_INBOX_PORT": str(ports["push"]),
        "SOJOURN_DEMO_SHOP_PORT": str(ports["shop"]),
        "SOJOURN_WORKER_METRICS_ADDRESS": f"127.0.0.1:{ports['metrics']}",
        "SOJOURN_TIME_SCALE": "3600",  # the README's demo clock: an hour is a second
    }
    for key in ("SOJOURN_SMTP_HOST", "SOJOURN_WRITE_KEYS", "SOJOURN_SERVER_KEYS", "SOJOURN_IDENTITY_SECRET",
                "SOJOURN_PUSH_ALLOWED_HOSTS", "SOJOURN_OUTBOUND_ALLOW_LOOPBACK", "SOJOURN_CORS_ORIGINS"):
        env.pop(key, None)
    return subprocess.Popen([sys.executable, "-m", "sojourn.devtools.cli", "dev"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out = said(proc)
    print(out)  # pytest shows it when the test fails
    assert proc.returncode == 0, out
    assert "Sojourn stopped." in out
    return out


def shut(proc: subprocess.Popen[str]) -> None:
    """A test's end: stop the stack, or, if it stopped by itself, show what it said."""
    if proc.poll() is None:
        stop(proc)
    else:
        print(said(proc))


def test_make_dev_runs_the_readme_example_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("temporal", "ui", "api", "smtp", "push", "shop", "metrics")}
    url = f"http://127.0.0.1:{ports['api']}"
    proc = start_stack(tmp_path, ports)
    try:
        wait_until(lambda: api_up(url), 90, "the API", proc)
        auth = ("dev-server-key", "")  # the shop's backend tells Sojourn her email
        identify = {"userId": "lisa", "traits": {"email": "lisa@example.com", "firstName": "Lisa"}}
        assert httpx.post(f"{url}/v1/identify", json=identify, auth=auth).status_code == 200
        # The README: give her a browser in the local push inbox.
        browser = httpx.post(f"http://127.0.0.1:{ports['push']}/subscribe", params={"customer": "lisa"})
        assert browser.status_code == 201, browser.text
        # She opens the shop's home page (never bought: the first-purchase incentive starts)...
        home = {"userId": "lisa", "name": "Home", "messageId": "readme-0", "properties": {"path": "/"}}
        assert httpx.post(f"{url}/v1/page", json=home, auth=auth).status_code == 200
        track = {"userId": "lisa", "event": "Product Added", "messageId": "readme-1",
                 "properties": {"product_id": "lip-42", "name": "Velvet Lipstick", "price": 24}}
        assert httpx.post(f"{url}/v1/track", json=track, auth=auth).status_code == 200
        # Her push came an hour in (journey time), checked and decrypted by the inbox.
        pushes = tmp_path / "push"
        wait_until(lambda: pushes.exists() and any(pushes.glob("*.json")), 30, "Lisa's push in var/push", proc)
        [push] = [json.loads(p.read_text()) for p in pushes.glob("*.json")]
        assert push["payload"]["body"] == "Your Velvet Lipstick is waiting in your cart.", push
        # Her page: her two journeys with their steps and next wake-ups, and her likelihood
        # to buy once the model, trained on the demo shop's past, has scored her: an
        # operator runs the schedule now rather than wait for the next minute.
        temporal = Path(sys.executable).parent / "temporal"
        trigger = subprocess.run(
            [str(temporal), "schedule", "trigger", "--schedule-id", "sojourn-likelihood",
             "--address", f"127.0.0.1:{ports['temporal']}"], capture_output=True, text=True, timeout=30)
        assert trigger.returncode == 0, trigger.stdout + trigger.stderr

        def her_page() -> dict:
            return httpx.get(f"{url}/v1/customers/lisa", headers={"Authorization": "Bearer dev-operator-key"}).json()

        wait_until(lambda: her_page()["likelihood"]["likelihood"] is not None, 60, "Lisa's likelihood to buy", proc)
        her = her_page()
        assert 0 <= her["likelihood"]["likelihood"] <= 1 and her["likelihood"]["status"] == "trained", her["likelihood"]
        runs = {run["journey"]: run for run in her["journeys"]}
        assert {"cart_abandonment", "first_purchase_incentive"} <= set(runs), runs
        for name in ("cart_abandonment", "first_purchase_incentive"):
            assert runs[name]["status"] == "running" and runs[name]["step"] and runs[name]["wakes_at"], runs[name]
        page = httpx.get(f"{url}/dashboard/customers/lisa", auth=("ops", "dev-operator-key"))
        assert page.status_code == 200
        for name in ("cart_abandonment", "first_purchase_incentive"):
            assert runs[name]["step"] in page.text
        assert f'data-value="{her["likelihood"]["likelihood"]}"' in page.text, "her likelihood on the dashboard"
        model = httpx.get(f"{url}/v1/likelihood", headers={"Authorization": "Bearer dev-operator-key"}).json()
        assert model["status"] == "trained" and model["metrics"]["auc"] > model["metrics"]["baselines"]["recency_auc"], model
        # A day after she entered (24 s on this clock), the cart email.
        mail = tmp_path / "mail"
        wait_until(lambda: mail.exists() and any(mail.glob("*.eml")), 60, "Lisa's email in var/mail", proc)
        [eml] = list(mail.glob("*.eml"))
        assert b"Velvet Lipstick" in eml.read_bytes() and b"lisa@example.com" in eml.read_bytes()
        # The demo shop serves her page, signed in, and shows the push (tests/test_demo_shop.py clicks it).
        shop = f"http://127.0.0.1:{ports['shop']}"
        page = httpx.get(f"{shop}/?as=lisa")
        assert page.status_code == 200 and '"userId": "lisa"' in page.text, page.text[:300]
        assert httpx.get(f"{shop}/pushes", params={"as": "lisa"}).json()[0]["title"] == "Still thinking it over?"
        cors = httpx.options(f"{url}/v1/t", headers={"Origin": f"http://localhost:{ports['shop']}",
                                                     "Access-Control-Request-Method": "POST"})
        assert cors.status_code == 200, "the API lets the demo shop's pages call it"
        # Prometheus scrapes both: the API (operator key) and the worker (the SDK's telemetry).
        api_metrics = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer dev-operator-key"}).text
        assert 'sojourn_events_accepted_total{type="track"}' in api_metrics
        worker_metrics = httpx.get(f"http://127.0.0.1:{ports['metrics']}/metrics").text
        assert "# TYPE sojourn_sends counter" in worker_metrics and 'channel="email"' in worker_metrics, \
            worker_metrics[:2000]
        assert "temporal_workflow_task_execution_latency" in worker_metrics and "temporal_activity_execution_latency" in worker_metrics
        assert httpx.get(f"http://127.0.0.1:{ports['ui']}/", timeout=5).status_code == 200, "the Temporal UI"
        pools = httpx.get(f"{url}/v1/coupons", headers={"Authorization": "Bearer dev-operator-key"}).json()
        assert sorted((p["offer"], p["available"]) for p in pools["pools"]) == [
            ("first_order", 100), ("referral_friend", 100), ("referral_reward", 100), ("second_order", 100),
            ("wheel_10", 100), ("wheel_15", 100), ("wheel_25", 100), ("wheel_shipping", 100), ("win_back", 100)
        ], "the dev pools are stocked"
        stories = httpx.get(f"{url}/v1/stories", headers={"Authorization": "Bearer dev-operator-key"}).json()
        assert [s["story_id"] for s in stories["stories"]][:4] == [
            "demo-sale", "demo-lips", "demo-skincare", "demo-eyes"], "the demo shop's stories are stored"
    finally:
        shut(proc)
    assert not [port for port in ports.values() if listening(port)], "nothing is left listening"

    # Restart on the same var/: Temporal kept the journey.
    proc = start_stack(tmp_path, ports)
    try:
        wait_until(lambda: api_up(url), 90, "the API after a restart", proc)
        temporal = Path(sys.executable).parent / "temporal"
        listed = subprocess.run(
            [str(temporal), "workflow", "list", "--address", f"127.0.0.1:{ports['temporal']}",
             "--query", 'CustomerId="lisa"', "--output", "json"],
            capture_output=True, text=True, timeout=30,
        )
        assert "cart_abandonment:lisa" in listed.stdout, listed.stdout + listed.stderr
        # Killed outright, with no chance to stop its parts, it still takes them along:
        # a worker left behind would join the next Temporal at its address (devstack.py).
        proc.kill()
        proc.wait(timeout=10)
        wait_until(lambda: not any(listening(port) for port in ports.values()), 30, "the killed stack's parts to stop")
    finally:
        shut(proc)
