"""After each request: metrics, and a usage record handed to the batch writer (never awaited on a DB)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from api_connector.core.call import Call
from api_connector.core.usage import Usage
from api_connector.errors import AddressForbidden, ConnectorError
from api_connector.observability.health import HealthRegistry
from api_connector.observability.logging import client_var
from api_connector.observability.metrics import Metrics
from api_connector.observability.tally import CounterTally
from api_connector.observability.tracing import Tracing
from api_connector.routing.attempts import AttemptLog
from api_connector.storage.record_writer import AuditRecord, RecordWriter, UsageRecord
from api_connector.storage.request_audit import Payloads, RequestAudit

if TYPE_CHECKING:
    from api_connector.governance.wiring import Governance
    from api_connector.observability.payloads import AuditPolicies


# Audit actions that are security events (counted by action and outcome besides being audited).
_SECURITY_PREFIXES = ("security.", "key.", "credential.create", "credential.rotate", "credential.delete",
                      "credential.disable", "credential.enable", "master_key.")
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
        # What the request audit keeps per project (set by the app; None: no request audit at all).
        self.audit_policies: AuditPolicies | None = None
        self._next_flush = time.perf_counter() + _FLUSH_SECONDS

    def _series(self, provider: str, model: str, capability: str, outcome: str) -> _Series:
        key = (provider, model, capability, outcome)
        series = self._cache.get(key)
        if series is None:
            series = self._cache[key] = _Series(self._metrics, *key)
        return series

    def finish(
        self,
        call: Call,
        log: AttemptLog,
        usage: Usage,
        error: ConnectorError | None,
        source: str = "upstream",
        payloads: Payloads | None = None,
    ) -> Awaitable[None] | None:
        """One call's end: metrics, passive health, its trace, cost charged, a usage row queued (with
        the caller's address for the request audit, and ``payloads`` when the project keeps bodies).

        Returns None, or an awaitable only when the record queue is full (back-pressure, never a drop).
        """
        target = log.served_by
        provider = target.instance.name if target else (error.provider if error and error.provider else "none")
        model = target.model if target else ""
        now = time.perf_counter()
        elapsed = now - call.started
        capability = call.capability.value
        series = self._series(
            provider,
            target.label_model if target else "",
            capability,
            "success" if error is None else error.code,
        )
        series.requests.pending += 1
        series.overhead.observe(max(0.0, elapsed - log.upstream_seconds))
        if log.upstream_seconds:
            series.upstream.observe(log.upstream_seconds)
        series.prompt_tokens.pending += usage.input_tokens
        series.completion_tokens.pending += usage.output_tokens
        for failure in log.failures:
            self._metrics.attempt_failures.labels(failure.error.provider or "none", failure.error.code).inc()
            if isinstance(failure.error, AddressForbidden):
                self._refused_address(call, failure.target.instance.name, failure.error)
        if log.made > 1:
            self._metrics.retries.labels(provider).inc(log.made - 1)
        if self.health is not None:
            self._book_health(self.health, log, error)
        if self.tracing is not None:
            self.tracing.request(call, log, usage=usage, error=error, provider=provider)
        # From the cache or another request's call: units recorded, the cost counted once elsewhere.
        fresh = source == "upstream"
        if source == "cache":
            self._metrics.cache_hits.labels(provider).inc()
        elif source == "stale":
            self._metrics.stale_answers.labels(provider).inc()
        cost = None if fresh else 0.0
        if self.governance is not None and target is not None and error is None and fresh:
            cost = self.governance.account(call.project_id, call.key_id, target, usage)
            if cost:
                series.add_cost(cost)
        record = UsageRecord(
            request_id=call.request_id,
            project_id=call.project_id,
            key_id=call.key_id,
            provider=provider,
            model=model,
            capability=capability,
            status="success" if error is None else "error",
            error_code=None if error is None else error.code,
            prompt_tokens=usage.input_tokens,
            completion_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            characters=usage.characters,
            audio_seconds=usage.audio_seconds,
            pages=usage.pages,
            rows=usage.rows,
            searches=usage.searches,
            cost_usd=cost,
            latency_ms=round(elapsed * 1000, 3),
            created_at=datetime.now(UTC),
            cached=not fresh and source != "coalesced",
            coalesced=source == "coalesced",
        )
        if self.audit_policies is not None:
            self._request_audit(self.audit_policies, record, payloads)
        if now >= self._next_flush:
            self.flush_metrics()
        if not self._writer.submit(record):  # a full queue: wait for room (back-pressure), never drop
            return self._writer.submit_wait(record)
        return None

    @staticmethod
    def _request_audit(policies: AuditPolicies, record: UsageRecord, payloads: Payloads | None) -> None:
        """What the request audit adds to the usage row (its metadata): the caller's address unless the
        project keeps none, and in sanitized mode its bodies (the one other row written)."""
        policy = policies.of(record.project_id)
        if policy.mode == "none":
            return
        record.client = client_var.get()
        if payloads is not None:  # a tap is made in sanitized mode only
            record.audit = RequestAudit(policy.retention_days, payloads)

    def _refused_address(self, call: Call, provider: str, error: AddressForbidden) -> None:
        """The address guard refused where a provider instance points (loopback, private, metadata):
        a security event, whoever configured it."""
        self.audit_soon(
            request_id=call.request_id,
            actor_key_id=call.key_id,
            project_id=call.project_id,
            action="security.address_refused",
            target_type="provider",
            target_id=provider,
            outcome="failure",
            details={"reason": error.message[:200]},
        )

    def flush_metrics(self) -> None:
        """Pass the gathered per-request figures on to the metrics (about once a second, and on demand)."""
        self._next_flush = time.perf_counter() + _FLUSH_SECONDS
        self._metrics.record_queue_depth.set(self._writer.queued)
        self._metrics.tallies.flush()

    @staticmethod
    def _book_health(health: HealthRegistry, log: AttemptLog, error: ConnectorError | None) -> None:
        """Each attempt's outcome to the provider's sliding window: O(1) per attempt, no I/O.

        Targets passed over (open circuit, at a limit) were never called: the gateway's own refusals
        say nothing about a provider's health.
        """
        failed_seconds = 0.0
        for attempt in log.failures:
            if attempt.skipped:
                continue
            failed_seconds += attempt.elapsed
            failure = attempt.error
            # A caller's fault (400, 404, ...) says nothing about the provider's health.
            provider_fault = failure.retryable or failure.code == "auth_failed"
            health.record_live(attempt.target.instance.pool, not provider_fault, attempt.elapsed)
        target = log.served_by
        if target is not None and error is None:
            health.record_live(target.instance.pool, True, max(0.0, log.upstream_seconds - failed_seconds))

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
        pending = self.audit_soon(
            request_id=request_id,
            actor_key_id=actor_key_id,
            project_id=project_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            details=details,
        )
        if pending is not None:
            await pending

    def audit_soon(
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
    ) -> Awaitable[None] | None:
        """``audit`` without a coroutine: an awaitable only when the record queue is full (back-pressure).

        The client address of the request being served joins the details, and security events (failed
        authentications, permission denials, refused addresses, failed decryptions, key and credential
        changes) are counted in ``api_connector_security_events_total``.
        """
        details = dict(details) if details else {}
        client = client_var.get()
        if client is not None:
            details.setdefault("client", client)
        if action.startswith(_SECURITY_PREFIXES) or (action == "credential.decrypt" and outcome != "success"):
            self._metrics.security_events.labels(action, outcome).inc()
        record = AuditRecord(
            request_id=request_id,
            actor_key_id=actor_key_id,
            project_id=project_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            details=details,
            created_at=datetime.now(UTC),
        )
        if not self._writer.submit(record):
            return self._writer.submit_wait(record)
        return None

    async def _submit(self, record: UsageRecord | AuditRecord) -> None:
        # Fast path never waits; when the queue is full the caller waits (back-pressure), nothing drops.
        if not self._writer.submit(record):
            await self._writer.submit_wait(record)
