"""Configuration of health monitoring, alerting and the request audit (``health:``, ``alerts:``, ``audit:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from api_connector.observability.payload_paths import parse_path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthConfig(_Strict):
    """How live traffic and probes decide whether a provider is healthy."""

    enabled: bool = True
    # Probe interval for providers without their own ``health_check`` block; None: only those that have
    # one are probed (the rest are judged from live traffic alone), so no provider gets calls unasked.
    default_interval: float | None = Field(None, gt=0)
    probe_timeout: float = Field(10.0, gt=0)
    window: float = Field(60.0, gt=0)  # seconds of live traffic the passive view covers
    min_calls: int = Field(5, ge=1)  # fewer live calls in the window: the error rate is not judged
    unhealthy_after: int = Field(3, ge=1)  # consecutive failures (probes or live calls)
    error_rate: float = Field(0.5, gt=0, le=1)  # live error rate at or above which a provider is unhealthy
    latency_p95_ms: float = Field(10_000.0, gt=0)  # above this the score drops (and an alert fires)


class WebhookConfig(_Strict):
    url: str
    # Standard Webhooks secret ("whsec_" + base64); a reference (env:NAME) is resolved at start-up.
    secret: SecretStr | None = None
    format: Literal["standard", "slack"] = "standard"
    # The operator's explicit leave to reach loopback and private addresses even where the service
    # refuses them to project providers (UPSTREAM_ALLOW_PRIVATE off); link-local and metadata never.
    allow_private: bool = False


class AlertsConfig(_Strict):
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    consecutive_failures: int = Field(3, ge=1)
    error_rate: float = Field(0.5, gt=0, le=1)
    latency_p95_ms: float = Field(10_000.0, gt=0)
    retries: int = Field(5, ge=0, le=20)
    backoff: float = Field(0.5, gt=0)  # first retry after this many seconds, doubling
    timeout: float = Field(10.0, gt=0)


PayloadMode = Literal["none", "metadata", "sanitized"]


def _valid_paths(paths: list[str] | None) -> list[str] | None:
    for path in paths or ():
        parse_path(path)  # raises ValueError naming what is wrong
    return paths


class ProjectAuditConfig(_Strict):
    """One project's departures from the ``audit:`` section; what it leaves out is the section's."""

    payloads: PayloadMode | None = None
    retention_days: int | None = Field(None, ge=1, le=3650)
    max_body_bytes: int | None = Field(None, ge=256, le=1_048_576)
    # Fields redacted in this project's stored bodies, besides the section's own list.
    redact: list[str] = Field(default_factory=list)

    _paths = field_validator("redact")(_valid_paths)


class RequestAuditConfig(_Strict):
    """The request audit (``audit:``): each API request's usage row with the caller's address, and its
    bodies when a project asks.

    ``none``: nothing beyond the usage row; ``metadata`` (the default): the usage row (who, what,
    outcome, latency) also keeps the caller's address, no body; ``sanitized``: a row of the request and
    answer bodies too, every known secret masked, the ``redact`` fields replaced, each cut to
    ``max_body_bytes``. ``retention_days`` after a request its bodies are deleted and its address cleared.
    """

    payloads: PayloadMode = "metadata"
    retention_days: int = Field(30, ge=1, le=3650)
    max_body_bytes: int = Field(16_384, ge=256, le=1_048_576)
    # JSON paths into request and answer bodies whose values are never stored, e.g.
    # ``messages[*].content``, ``input``, ``choices[*].message.content``.
    redact: list[str] = Field(default_factory=list)
    purge_interval: float = Field(3600.0, gt=0, le=86_400)  # seconds between sweeps of expired rows
    projects: dict[str, ProjectAuditConfig] = Field(default_factory=dict)  # by project id

    _paths = field_validator("redact")(_valid_paths)
