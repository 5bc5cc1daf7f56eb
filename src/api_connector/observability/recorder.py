"""After each request: metrics, and a usage record handed to the batch writer (never awaited on a DB)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from api_connector.core.usage import Usage
from api_connector.errors import ConnectorError
from api_connector.observability.health import HealthRegistry
from api_connector.observability.metrics import Metrics
from api_connector.observability.tally import CounterTally
from api_connector.observability.tracing import Tracing
from api_connector.routing.dispatch import CallContext
from api_connector.storage.record_writer import AuditRecord, RecordWriter, UsageRecord

if TYPE_CHECKING:
    from api_connector.governance.wiring import Governance


# Per-request metrics reach prometheus_client in bulk this often at most (see observability/tally.py).
_FLUSH_SECONDS = 1.0


class _Series:
    """The metric children of one (provider, model, capability, outcome): looked up once, then reused."""

    __slots__ = ("_cost_labels", "_m", "completion_tokens", "cost", "overhead", "prompt_tokens", "requests", "upstream")

    def __init__(self, m: Metrics, provider: str, model: str, capability: str, outcome: str) -> None:
        tallies = m.tallies
        self.requests = tallies.counter(m.requests.labels(provider, model, capability, outcome))
        self.overhead = tallies.histogram(m.overhead.labels(capability))
        self.upstream = tallies.histogram(m.upstream_latency.labels(provider))
        self.prompt_tokens = tallies.counter(m.tokens.labels(provider, model, "prompt"))
        self.completion_tokens = tallies.counter(m.tokens.labels(provider, model, "completion"))
        self._m, self._cost_labels = m, (provider, model)
        self.cost: CounterTally | None = None  # made on the first priced request: errors and unpriced show none

    def add_cost(self, usd: float) -> None:
        if self.cost is None:
            self.cost = self._m.tallies.counter(self._m.cost.labels(*self._cost_labels))
        self.cost.pending += usd


class Recorder:
    def __init__(self, metrics: Metrics, writer: RecordWriter) -> None:
        self._metrics = metrics
        self._writer = writer
        # Label values come from configuration and error codes, so this stays small.
        self._cache: dict[tuple[str, str, str, str], _Series] = {}
        self.governance: Governance | None = None  # prices usage and charges budgets (set by the app)
        self.health: HealthRegistry | None = None  # passive health, set by the app when monitoring is on
        self.tracing: Tracing | None = None  # OpenTelemetry spans, set by the app when tracing is on
        self._next_flush = time.perf_counter() + _FLUSH_SECONDS

    def _series(self, provider: str, model: str, capability: str, outcome: str) -> _Series:
        key = (provider, model, capability, outcome)
        series = self._cache.get(key)
        if series is None:
            series = self._cache[key] = _Series(self._metrics, *key)
        return series

    async def finish(
        self,
        ctx: CallContext,
        *,
        started: float,
        usage: Usage | None = None,
        error: ConnectorError | None = None,
        cached: bool = False,
        coalesced: bool = False,
    ) -> None:
        target = ctx.served_by
        provider = target.instance.name if target else (error.provider if error and error.provider else "none")
        model = target.model if target else ""
        now = time.perf_counter()
        elapsed = now - started
        usage = usage or Usage()
        capability = ctx.capability.value
        series = self._series(
            provider,
            target.label_model if target else "",
            capability,
            "success" if error is None else error.code,
        )
        series.requests.pending += 1
        series.overhead.observe(max(0.0, elapsed - ctx.upstream_seconds))
        if ctx.upstream_seconds:
            series.upstream.observe(ctx.upstream_seconds)
        series.prompt_tokens.pending += usage.prompt_tokens
        series.completion_tokens.pending += usage.completion_tokens
        for failure in ctx.attempts:
            self._metrics.attempt_failures.labels(failure.provider or "none", failure.code).inc()
        if ctx.attempts_made > 1:
            self._metrics.retries.labels(provider).inc(ctx.attempts_made - 1)
        if self.health is not None:
            self._book_health(self.health, ctx, error)
        if self.tracing is not None:
            self.tracing.request(ctx, started=started, usage=usage, error=error, provider=provider)
        # From the cache or another request's call: tokens recorded, the cost counted once elsewhere.
        cost = 0.0 if cached or coalesced else None
        if self.governance is not None and target is not None and error is None and cost is None:
            cost = self.governance.account(ctx.project_id, ctx.key_id, target, usage)
            if cost:
                series.add_cost(cost)
        record = UsageRecord(
            request_id=ctx.request_id,
            project_id=ctx.project_id,
            key_id=ctx.key_id,
            provider=provider,
            model=model,
            capability=capability,
            status="success" if error is None else "error",
            error_code=None if error is None else error.code,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=cost,
            latency_ms=round(elapsed * 1000, 3),
            created_at=datetime.now(UTC),
            cached=cached,
            coalesced=coalesced,
        )
        if not self._writer.submit(record):  # a full queue: wait for room (back-pressure), never drop
            await self._writer.submit_wait(record)
        if now >= self._next_flush:
            self.flush_metrics()

    def flush_metrics(self) -> None:
        """Pass the gathered per-request figures on to the metrics (about once a second, and on demand)."""
        self._next_flush = time.perf_counter() + _FLUSH_SECONDS
        self._metrics.record_queue_depth.set(self._writer.queued)
        self._metrics.tallies.flush()

    @staticmethod
    def _book_health(health: HealthRegistry, ctx: CallContext, error: ConnectorError | None) -> None:
        """Each attempt's outcome to the provider's sliding window: O(1) per attempt, no I/O."""
        failed_seconds = 0.0
        for step in ctx.trace:
            if step["skipped"]:
                continue
            seconds = step["elapsed_ms"] / 1000
            failed_seconds += seconds
            # A caller's fault (400, 404, ...) says nothing about the provider's health.
            provider_fault = step["retryable"] or step["code"] == "auth_failed"
            health.record_live(step["pool"], not provider_fault, seconds)
        target = ctx.served_by
        if target is not None and error is None:
            health.record_live(target.instance.pool, True, max(0.0, ctx.upstream_seconds - failed_seconds))

    async def audit(
        self,
        *,
        request_id: str | None,
        actor_key_id: str | None,
        project_id: str | None,
        action: str,
        target_type: str,
        target_id: str | None,
        outcome: str = "success",
        details: dict[str, Any] | None = None,
    ) -> None:
        await self._submit(
            AuditRecord(
                request_id=request_id,
                actor_key_id=actor_key_id,
                project_id=project_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                outcome=outcome,
                details=details or {},
                created_at=datetime.now(UTC),
            )
        )

    async def _submit(self, record: UsageRecord | AuditRecord) -> None:
        # Fast path never waits; when the queue is full the caller waits (back-pressure), nothing drops.
        if not self._writer.submit(record):
            await self._writer.submit_wait(record)
