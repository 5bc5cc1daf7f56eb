"""After each request: metrics, and a usage record handed to the batch writer (never awaited on a DB)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from api_connector.core.usage import Usage
from api_connector.errors import ConnectorError
from api_connector.observability.metrics import Metrics
from api_connector.routing.dispatch import CallContext
from api_connector.storage.record_writer import AuditRecord, RecordWriter, UsageRecord


class _Series:
    """The metric children of one (provider, model, capability, outcome): looked up once, then reused."""

    __slots__ = ("completion_tokens", "overhead", "prompt_tokens", "requests", "upstream")

    def __init__(self, m: Metrics, provider: str, model: str, capability: str, outcome: str) -> None:
        self.requests = m.requests.labels(provider, model, capability, outcome)
        self.overhead = m.overhead.labels(capability)
        self.upstream = m.upstream_latency.labels(provider)
        self.prompt_tokens = m.tokens.labels(provider, model, "prompt")
        self.completion_tokens = m.tokens.labels(provider, model, "completion")


class Recorder:
    def __init__(self, metrics: Metrics, writer: RecordWriter) -> None:
        self._metrics = metrics
        self._writer = writer
        # Label values come from configuration and error codes, so this stays small.
        self._cache: dict[tuple[str, str, str, str], _Series] = {}

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
    ) -> None:
        target = ctx.served_by
        provider = target.instance.name if target else (error.provider if error and error.provider else "none")
        model = target.model if target else ""
        elapsed = time.perf_counter() - started
        usage = usage or Usage()
        series = self._series(
            provider,
            target.label_model if target else "",
            ctx.capability.value,
            "success" if error is None else error.code,
        )
        series.requests.inc()
        series.overhead.observe(max(0.0, elapsed - ctx.upstream_seconds))
        if ctx.upstream_seconds:
            series.upstream.observe(ctx.upstream_seconds)
        if usage.prompt_tokens:
            series.prompt_tokens.inc(usage.prompt_tokens)
        if usage.completion_tokens:
            series.completion_tokens.inc(usage.completion_tokens)
        for failure in ctx.attempts:
            self._metrics.attempt_failures.labels(failure.provider or "none", failure.code).inc()
        record = UsageRecord(
            request_id=ctx.request_id,
            project_id=ctx.project_id,
            key_id=ctx.key_id,
            provider=provider,
            model=model,
            capability=ctx.capability.value,
            status="success" if error is None else "error",
            error_code=None if error is None else error.code,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=None,
            latency_ms=round(elapsed * 1000, 3),
            created_at=datetime.now(UTC),
        )
        await self._submit(record)

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
        self._metrics.record_queue_depth.set(self._writer.queued)
