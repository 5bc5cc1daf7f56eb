"""Prometheus metrics on a registry of the app's own (nothing global), with low-cardinality labels."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from api_connector.observability.tally import Tallies

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Metrics:
    def __init__(self, multiproc_dir: Path | None = None) -> None:
        # With several workers each process writes its samples to files there; a scrape sums them all.
        self.multiproc_dir = multiproc_dir
        # The per-request series are updated through these and passed on in bulk (see tally.py).
        self.tallies = Tallies()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        r.register(self.tallies)  # first: collecting the registry flushes the tallies before the rest
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
            "api_connector_record_queue_depth",
            "Usage and audit records waiting for the batch writer.",
            registry=r,
            multiprocess_mode="livesum",
        )

        self.retries = Counter(
            "api_connector_retries",
            "Upstream attempts beyond the first, by the provider that finally served (or none).",
            ["provider"],
            registry=r,
        )
        self.cost = Counter(
            "api_connector_cost_usd",
            "Estimated cost in US dollars, by provider and model.",
            ["provider", "model"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "api_connector_breaker_state",
            "Circuit breaker state per route target: 0 closed, 1 half-open, 2 open.",
            ["target"],
            registry=r,
            multiprocess_mode="livemax",
        )
        # Incremented by the governance layer (response cache, rate limits).
        self.cache_hits = Counter(
            "api_connector_cache_hits", "Responses served from the cache.", ["provider"], registry=r
        )
        self.cache_misses = Counter(
            "api_connector_cache_misses", "Cacheable requests not found in the cache.", ["provider"], registry=r
        )
        self.rate_limited = Counter(
            "api_connector_rate_limit_refusals",
            "Requests refused by a rate limit or budget, by scope (key, project, provider, budget).",
            ["scope"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "api_connector_queue_depth",
            "Items waiting or in flight, by queue.",
            ["queue"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.health_score = Gauge(
            "api_connector_provider_health_score",
            "Availability score 0..1 per provider (the lowest any worker sees).",
            ["provider"],
            registry=r,
            multiprocess_mode="livemin",
        )
        self.provider_healthy = Gauge(
            "api_connector_provider_healthy",
            "1 when the provider is judged healthy (by every worker).",
            ["provider"],
            registry=r,
            multiprocess_mode="livemin",
        )

    def render(self) -> bytes:
        self.tallies.flush()
        if self.multiproc_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.multiproc_dir))
        return generate_latest(registry)
