"""Prometheus metrics of the API process (prometheus-client), served on `/metrics` to
an operator key (api/routes/metrics.py). The worker's come from the Temporal SDK's own
runtime telemetry, which serves them on SOJOURN_WORKER_METRICS_PORT, the sends among
them (activities/channel.py).

Counters are per process, as Prometheus expects: it sums them across replicas.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("sojourn_http_requests", "HTTP requests answered, by route template, method and status",
                        ["route", "method", "status"])
HTTP_LATENCY = Histogram("sojourn_http_request_duration_seconds", "Time to answer an HTTP request, by route template",
                         ["route", "method"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
EVENTS_ACCEPTED = Counter("sojourn_events_accepted", "Events stored (a repeated messageId is not counted again), by type",
                          ["type"])
EVENTS_ROUTED = Counter("sojourn_events_routed", "Events the router settled: routed, or parked dead after its retries",
                        ["outcome"])
PIPELINE = Gauge("sojourn_pipeline_events", "Events waiting to be routed (pending) and parked dead, as of the scrape",
                 ["state"])
