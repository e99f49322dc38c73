"""Prometheus metrics, scraped as Prometheus would: the API's `/metrics` (requests by
route template and status, latency, events accepted, routed and dead, the backlog),
for an operator key only; the worker's endpoint from the Temporal SDK's runtime
telemetry, with Sojourn's sends by channel and outcome and their latency."""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.settings import Settings
from sojourn.ground.temporal import metrics_runtime
from tests.conftest import OPERATOR_KEY, WRITE_KEY, Api, basic, open_api
from tests.support.journeys import TEST_JOURNEYS, ChannelsProbe
from tests.support.smtp import Inbox
from worker import build_worker
from workflows.journeys.cart_abandonment import CartAbandonment
from workflows.registry import JOURNEYS


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


async def scrape(api: Api) -> dict[Any, float]:
    response = await api.http.get("/metrics", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_the_api_counts_requests_and_events(api: Api, customer_id: str) -> None:
    assert (await api.http.get("/metrics")).status_code == 401
    assert (await api.http.get("/metrics", headers={"Authorization": basic(WRITE_KEY)})).status_code == 401
    before = await scrape(api)
    await api.track(customer_id, "Product Added", {"product_id": "p"})
    bad = await api.http.post("/v1/track", json={"userId": customer_id}, headers={"Authorization": basic(WRITE_KEY)})
    assert bad.status_code == 400
    await api.http.get(f"/v1/customers/{customer_id}/messages", headers={"Authorization": basic(WRITE_KEY)})
    after = await scrape(api)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("sojourn_http_requests_total", route="/v1/track", method="POST", status="200") == 1
    assert grew("sojourn_http_requests_total", route="/v1/track", method="POST", status="400") == 1
    # The route's template, never her id: the series stay bounded.
    assert grew("sojourn_http_requests_total", route="/v1/customers/{customer_id}/messages", status="403") == 1
    assert not any(customer_id in str(labels) for (_, labels) in after)
    assert grew("sojourn_http_request_duration_seconds_count", route="/v1/track", method="POST") == 2
    assert grew("sojourn_events_accepted_total", type="track") == 1
    assert grew("sojourn_events_routed_total", outcome="routed") >= 1
    assert ("sojourn_pipeline_events", (("state", "dead"),)) in after


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_worker_serves_the_sdks_metrics_and_its_sends(env: WorkflowEnvironment, settings: Settings,
                                                                sessions: Any, inbox: Inbox, customer_id: str) -> None:
    port = free_port()
    client = await Client.connect(env.client.service_client.config.target_host, runtime=metrics_runtime(
        f"127.0.0.1:{port}"))
    async with build_worker(client, settings, sessions, extra_workflows=[ChannelsProbe]), \
            open_api(settings, client, journeys=(*JOURNEYS, *TEST_JOURNEYS)) as api:
        await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
        await api.track(customer_id, "Channels Probe")  # a webhook (skipped: none set) and two on-site sends
        await client.get_workflow_handle(ChannelsProbe.spec.workflow_id(customer_id)).result()
        await api.track(customer_id, "Product Added", {"product_id": f"p-{uuid.uuid4()}"})
        cart = client.get_workflow_handle(CartAbandonment.spec.workflow_id(customer_id))
        await env.fast_forward(cart, timedelta(days=1, minutes=1))
        assert len(inbox.to(customer_id)) == 1
        async with httpx.AsyncClient() as http:
            found = samples((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
    assert value(found, "sojourn_sends_total", channel="onsite", outcome="sent") >= 2, sorted({k[0] for k in found})
    assert value(found, "sojourn_sends_total", channel="email", outcome="sent") >= 1
    assert value(found, "sojourn_sends_total", channel="webhook", outcome="skipped") >= 1
    assert value(found, "sojourn_send_duration_count", channel="email") >= 1
    names = {name for name, _ in found}
    assert {"temporal_workflow_completed_total", "temporal_activity_execution_latency_count"} <= names, sorted(names)[:40]
