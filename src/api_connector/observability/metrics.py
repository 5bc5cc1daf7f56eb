"""Prometheus metrics on a registry of the app's own (nothing global), with low-cardinality labels.

Every metric labelled by provider, model or target is made through the label policy
(``metric_labels``): by default no name a project chose appears in a label.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from api_connector.observability.metric_labels import Labelled, MetricLabels
from api_connector.observability.tally import Tallies

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Metrics:
    def __init__(self, multiproc_dir: Path | None = None, labels: MetricLabels | None = None) -> None:
        # With several workers each process writes its samples to files there; a scrape sums them all.
        self.multiproc_dir = multiproc_dir
        # Without a policy (a bare Metrics, in tests) every name is its own label.
        policy = labels or MetricLabels((), (), project_labels=True)
        provider, model = policy.provider, policy.model
        # The per-request series are updated through these and passed on in bulk (see tally.py).
        self.tallies = Tallies()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        r.register(self.tallies)  # first: collecting the registry flushes the tallies before the rest
        self.requests = Labelled(
            Counter(
                "api_connector_requests",
                "Requests handled, by provider, model, capability and outcome.",
                ["provider", "model", "capability", "outcome"],
                registry=r,
            ),
            provider,
            model,
        )
        self.http_requests = Counter(
            "api_connector_http_requests", "HTTP requests by route and status class.", ["route", "status"], registry=r
        )
        self.upstream_latency = Labelled(
            Histogram(
                "api_connector_upstream_seconds",
                "Time spent waiting on the upstream provider.",
                ["provider"],
                buckets=_LATENCY_BUCKETS,
                registry=r,
            ),
            provider,
        )
        self.overhead = Histogram(
            "api_connector_overhead_seconds",
            "The gateway's own time per request (total minus upstream).",
            ["capability"],
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.tokens = Labelled(
            Counter(
                "api_connector_tokens",
                "Tokens accounted, by provider, model and kind.",
                ["provider", "model", "kind"],
                registry=r,
            ),
            provider,
            model,
        )
        self.attempt_failures = Labelled(
            Counter(
                "api_connector_upstream_failures",
                "Failed upstream attempts by provider and error code.",
                ["provider", "code"],
                registry=r,
            ),
            provider,
        )
        self.record_queue_depth = Gauge(
            "api_connector_record_queue_depth",
            "Usage and audit records waiting for the batch writer.",
            registry=r,
            multiprocess_mode="livesum",
        )

        self.retries = Labelled(
            Counter(
                "api_connector_retries",
                "Upstream attempts beyond the first, by the provider that finally served (or none).",
                ["provider"],
                registry=r,
            ),
            provider,
        )
        self.cost = Labelled(
            Counter(
                "api_connector_cost_usd",
                "Estimated cost in US dollars, by provider and model.",
                ["provider", "model"],
                registry=r,
            ),
            provider,
            model,
        )
        self.breaker_state = Labelled(
            Gauge(
                "api_connector_breaker_state",
                "Circuit breaker state per route target: 0 closed, 1 half-open, 2 open.",
                ["target"],
                registry=r,
                multiprocess_mode="livemax",
            ),
            policy.target,
        )
        # Incremented by the governance layer (response cache, rate limits).
        self.cache_hits = Labelled(
            Counter("api_connector_cache_hits", "Responses served from the cache.", ["provider"], registry=r), provider
        )
        self.stale_answers = Labelled(
            Counter(
                "api_connector_cache_stale_answers",
                "Answers past their TTL served because every target failed (stale-if-error).",
                ["provider"],
                registry=r,
            ),
            provider,
        )
        self.cache_misses = Labelled(
            Counter(
                "api_connector_cache_misses", "Cacheable requests not found in the cache.", ["provider"], registry=r
            ),
            provider,
        )
        self.security_events = Counter(
            "api_connector_security_events",
            "Security events by audit action and outcome (failed authentications, permission denials, refused "
            "addresses, failed decryptions, key and credential changes).",
            ["action", "outcome"],
            registry=r,
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
        # Set from pool keys ("<project or *>:<name>"), which say whose instance it is.
        self.health_score = Labelled(
            Gauge(
                "api_connector_provider_health_score",
                "Availability score 0..1 per provider (the lowest any worker sees).",
                ["provider"],
                registry=r,
                multiprocess_mode="livemin",
            ),
            policy.pool,
        )
        self.provider_healthy = Labelled(
            Gauge(
                "api_connector_provider_healthy",
                "1 when the provider is judged healthy (by every worker).",
                ["provider"],
                registry=r,
                multiprocess_mode="livemin",
            ),
            policy.pool,
        )

    def render(self) -> bytes:
        self.tallies.flush()
        if self.multiproc_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.multiproc_dir))
        return generate_latest(registry)
