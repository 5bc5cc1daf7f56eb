"""A provider instance's connection status after an initialize or a refresh of its connections.

Produced by ``api.connections`` (the service, the embedded ``Connector``) and read back from JSON by
the SDK's ``Client`` and the command line: one type for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OK = "ok"
FAILED = "failed"
UNCHECKED = "unchecked"  # no probe declared: the credential was read, nothing was sent


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    provider: str
    project_id: str | None  # None: an instance of the configuration file
    status: str  # ok | failed | unchecked
    latency_ms: float | None = None  # of the probe, when it was answered
    error_code: str | None = None  # the error tree's stable code (connect_error, auth_failed, ...)
    error: str | None = None  # why, scrubbed of secrets

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "project_id": self.project_id,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "error_code": self.error_code,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ConnectionStatus:
        latency = raw.get("latency_ms")
        return cls(
            str(raw["provider"]),
            raw.get("project_id"),
            str(raw["status"]),
            None if latency is None else float(latency),
            raw.get("error_code"),
            raw.get("error"),
        )


def failure_message(statuses: list[ConnectionStatus]) -> str:
    """What a strict caller is told: how many failed, and each one's name and code."""
    failed = [s for s in statuses if s.failed]
    names = ", ".join(f"{s.provider} ({s.error_code})" for s in failed)
    return f"{len(failed)} of {len(statuses)} providers failed: {names}"
