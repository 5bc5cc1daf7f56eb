"""Prometheus metrics on a registry of the app's own (nothing global), with low-cardinality labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "api_connector_requests",
            "Requests handled, by provider, model, capability and outcome.",
            ["provider", "model", "capability", "outcome"],
            registry=r,
        )
        self.http_requests = Counter(
            "api_connector_http_requests", "HTTP requests by route and status class.", ["route", "status"], registry=r
        )
        self.upstream_latency = Histogram(
            "api_connector_upstream_seconds",
            "Time spent waiting on the upstream provider.",
            ["provider"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "api_connector_overhead_seconds",
            "The gateway's own time per request (total minus upstream).",
            ["capability"],
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "api_connector_tokens",
            "Tokens accounted, by provider, model and kind.",
            ["provider", "model", "kind"],
            registry=r,
        )
        self.attempt_failures = Counter(
            "api_connector_upstream_failures",
            "Failed upstream attempts by provider and error code.",
            ["provider", "code"],
            registry=r,
        )
        self.record_queue_depth = Gauge(
            "api_connector_record_queue_depth", "Usage and audit records waiting for the batch writer.", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
