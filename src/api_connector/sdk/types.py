"""Typed results of the SDK's operations: the ``/v1/requests`` envelope, health, providers, connections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api_connector.core.connections import ConnectionStatus, failure_message


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: str
    message: str
    provider: str | None = None
    retryable: bool = False
    details: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ErrorInfo:
        return cls(raw["code"], raw["message"], raw.get("provider"), bool(raw.get("retryable")), raw.get("details"))


@dataclass(frozen=True, slots=True)
class RequestMetadata:
    provider: str | None
    response_time_ms: float
    cached: bool
    request_id: str
    status: int | None = None
    tokens_used: int | None = None
    cost: float | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RequestMetadata:
        return cls(
            raw.get("provider"),
            float(raw.get("response_time_ms", 0.0)),
            bool(raw.get("cached", False)),
            raw.get("request_id", ""),
            raw.get("status"),
            raw.get("tokens_used"),
            raw.get("cost"),
        )


class RequestFailed(Exception):
    """A request the gateway answered with an error (``error`` holds its code, message, provider, ...)."""

    def __init__(self, error: ErrorInfo, status: int | None = None) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error
        self.status = status


class ConnectionsFailed(RequestFailed):
    """A strict ``initialize_connections`` / ``refresh_connections`` in which some provider failed;
    ``statuses`` holds every provider's status (the refresh itself was done)."""

    def __init__(self, statuses: list[ConnectionStatus]) -> None:
        details = {"providers": [s.as_json() for s in statuses]}
        super().__init__(ErrorInfo("connections_failed", failure_message(statuses), None, True, details), 503)
        self.statuses = statuses


def checked_statuses(statuses: list[ConnectionStatus], strict: bool) -> list[ConnectionStatus]:
    """The statuses, or ``ConnectionsFailed`` when ``strict`` and one of them failed."""
    if strict and any(s.failed for s in statuses):
        raise ConnectionsFailed(statuses)
    return statuses


@dataclass(frozen=True, slots=True)
class RequestResult:
    """The envelope ``{success, data?, error?, metadata}``."""

    success: bool
    metadata: RequestMetadata
    data: Any = None
    error: ErrorInfo | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RequestResult:
        error = raw.get("error")
        return cls(
            bool(raw["success"]),
            RequestMetadata.from_json(raw.get("metadata") or {}),
            raw.get("data"),
            ErrorInfo.from_json(error) if error else None,
        )

    def raise_for_error(self) -> RequestResult:
        if not self.success and self.error is not None:
            raise RequestFailed(self.error)
        return self


@dataclass(frozen=True, slots=True)
class HealthStatus:
    provider: str
    is_healthy: bool
    response_time_ms: float | None
    error_rate: float
    last_checked: str | None
    consecutive_failures: int
    score: float
    window: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> HealthStatus:
        return cls(
            raw["provider"],
            bool(raw["is_healthy"]),
            raw.get("response_time_ms"),
            float(raw.get("error_rate", 0.0)),
            raw.get("last_checked"),
            int(raw.get("consecutive_failures", 0)),
            float(raw.get("score", 1.0)),
            raw.get("window") or {},
        )


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    type: str
    base_url: str
    models: list[str]
    capabilities: list[str]
    source: str

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ProviderInfo:
        return cls(
            raw["name"],
            raw["type"],
            raw.get("base_url", ""),
            list(raw.get("models", [])),
            list(raw.get("capabilities", [])),
            raw.get("source", "config"),
        )


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """One voice of a speech provider (``Client.list_voices`` / ``Connector.list_voices``)."""

    id: str
    name: str
    languages: list[str]
    gender: str | None = None
    description: str | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> VoiceInfo:
        return cls(
            raw["id"],
            raw.get("name", raw["id"]),
            list(raw.get("languages", [])),
            raw.get("gender"),
            raw.get("description"),
        )
