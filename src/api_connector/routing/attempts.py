"""The attempt log of one call: every failed try and every target passed over, typed, in order.

Routing writes it (``failover.Resilience``); the record layer reads it for metrics, passive health
and traces, and the dead-letter queue keeps it as the entry's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api_connector.errors import UpstreamError
from api_connector.routing.catalog import Target

_MESSAGE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Attempt:
    target: Target
    error: UpstreamError
    at: float  # seconds from the call's start
    elapsed: float  # seconds the try took (0 when passed over)
    skipped: bool  # passed over without a call: the gateway's own refusal, never the provider's fault

    def as_json(self) -> dict[str, Any]:
        error = self.error
        return {
            "provider": self.target.instance.name,
            "pool": self.target.instance.pool,  # which instance: same-named ones of two projects differ
            "model": self.target.model,
            "code": error.code,
            "status": error.upstream_status,
            "message": error.message[:_MESSAGE_LIMIT],
            "retryable": error.retryable,
            "skipped": self.skipped,
            "at_ms": round(self.at * 1000, 3),
            "elapsed_ms": round(self.elapsed * 1000, 3),
        }


@dataclass(slots=True)
class AttemptLog:
    failures: list[Attempt] = field(default_factory=list)
    made: int = 0  # calls sent upstream (retries included)
    served_by: Target | None = None
    upstream_seconds: float = 0.0  # time spent waiting on upstreams, for the overhead metric
    budget_exhausted: bool = False  # the retry budget refused another try

    @property
    def errors(self) -> list[UpstreamError]:
        return [attempt.error for attempt in self.failures]

    def as_json(self) -> list[dict[str, Any]]:
        return [attempt.as_json() for attempt in self.failures]
