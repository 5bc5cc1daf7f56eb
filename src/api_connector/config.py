"""The configuration file (``API_CONNECTOR_CONFIG``, YAML): provider instances and routes.

The admin API edits the same model. Validated once at start-up: unknown keys are errors, provider types
must exist in the catalog, routes must name configured providers, and credentials are references
(``env:NAME``, ``file:/PATH``, ``vault:PATH#FIELD``, ``aws:SECRET_ID``, ``cred_<id>``), never the secret
itself.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from yarl import URL

from api_connector.errors import ConfigError
from api_connector.governance.settings_model import BudgetsConfig, CacheConfig, LimitsConfig, PriceOverride
from api_connector.observability.settings_model import AlertsConfig, HealthConfig, RequestAuditConfig
from api_connector.providers import REGISTRY

CREDENTIAL_REF = re.compile(
    r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/[^\s]+|vault:[^#\s]+#[^#\s]+|aws:[^\s]+|cred_[A-Za-z0-9]+)$"
)
INSTANCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# http(s), a host, no blank or control character anywhere (the OpenAPI document states the same pattern).
BASE_URL = re.compile(r"^https?://[^/?#\s\x00-\x1f\x7f]+[^\s\x00-\x1f\x7f]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_DAY = 86_400.0  # the longest timeout that means anything (and that every event loop can schedule)
Seconds = Annotated[float, Field(gt=0, le=_DAY)]


class TimeoutConfig(_Strict):
    connect: Seconds = 10.0
    read: Seconds = 60.0
    total: Seconds = 120.0


class RateLimitConfig(_Strict):
    # Frozen: the limiter keeps what it worked out from one of these for as long as it is the same object.
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    requests_per_hour: int | None = Field(None, ge=1)
    # Calls open at once with this credential across every replica (Redis leases; per process without
    # Redis). A route target's limits.max_in_flight is the per-process limit of one target.
    concurrent_requests: int | None = Field(None, ge=1)
    # Seconds a call may wait for this credential's next slot instead of being passed over (within
    # its deadline); 0: never wait, try the next target or answer 429 at once.
    max_wait: float = Field(0.0, ge=0, le=60)


class HealthCheckConfig(_Strict):
    interval: float = Field(30.0, gt=0)
    enabled: bool = True


def _parses(url: str) -> bool:
    """Whether the URL's host and port can be read, as the client and the address guard will read them."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number in range
        return bool(parts.hostname) and bool(URL(url).host)
    except ValueError:  # a malformed IPv6 literal or port, a host IDNA cannot encode
        return False


class ProviderConfig(_Strict):
    type: str
    base_url: str | None = None
    credential: str | None = None
    timeout: Seconds | TimeoutConfig = TimeoutConfig()
    rate_limit: RateLimitConfig | None = None
    health_check: HealthCheckConfig | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # Query parameters sent with every call (over the provider's declared ones, e.g. Azure's api-version).
    query: dict[str, str] = Field(default_factory=dict)
    max_connections: int = Field(100, ge=1, le=10_000)
    models: list[str] = Field(default_factory=list)
    # Refuse a model the provider's live list lacks before calling it; off for providers whose lists
    # are incomplete (private fine-tunes, deployments the list does not show).
    check_models: bool = True

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in REGISTRY:
            raise ValueError(f"unknown provider type {value!r}; known: {', '.join(sorted(REGISTRY))}")
        return value

    @field_validator("credential")
    @classmethod
    def _is_reference(cls, value: str | None) -> str | None:
        # The value itself is never echoed: it may be a pasted secret.
        if value is not None and not CREDENTIAL_REF.match(value):
            raise ValueError("must be a reference: env:NAME, file:/PATH, vault:PATH#FIELD, aws:SECRET_ID or cred_<id>")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not (BASE_URL.match(value) and _parses(value)):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _complete(self) -> ProviderConfig:
        spec = REGISTRY[self.type]
        if spec.base_url is None and self.base_url is None:
            raise ValueError(f"provider type {self.type!r} needs a base_url")
        if spec.requires_credential and self.credential is None:
            raise ValueError(f"provider type {self.type!r} needs a credential reference")
        return self

    def timeouts(self) -> TimeoutConfig:
        if isinstance(self.timeout, TimeoutConfig):
            return self.timeout
        return TimeoutConfig(connect=min(10.0, self.timeout), read=self.timeout, total=self.timeout)


class Strategy(StrEnum):
    PRIORITY = "priority"
    WEIGHTED = "weighted"
    LEAST_LATENCY = "least_latency"
    LEAST_BUSY = "least_busy"
    LOWEST_COST = "lowest_cost"


class TargetLimits(_Strict):
    # Calls this target may have open at once; a target at its limit is passed over like an open circuit.
    max_in_flight: int | None = Field(None, ge=1)


class TargetFeatures(_Strict):
    """What a target can take; unset means "assumed able" (the context window falls back to genai-prices)."""

    context_window: int | None = Field(None, ge=1)
    tools: bool | None = None
    vision: bool | None = None
    streaming: bool | None = None


class PriceConfig(_Strict):
    """USD per million tokens; overrides genai-prices for the lowest_cost strategy."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class TargetConfig(_Strict):
    provider: str
    model: str
    # Another credential reference than the provider instance's (e.g. a second account's key).
    credential: str | None = None
    weight: float = Field(1.0, gt=0)
    priority: int = 0  # lower first: strategies order targets within each priority level
    limits: TargetLimits = TargetLimits()
    features: TargetFeatures = TargetFeatures()
    price: PriceConfig | None = None

    @field_validator("credential")
    @classmethod
    def _is_reference(cls, value: str | None) -> str | None:
        if value is not None and not CREDENTIAL_REF.match(value):
            raise ValueError("must be a reference: env:NAME, file:/PATH, vault:PATH#FIELD, aws:SECRET_ID or cred_<id>")
        return value


class RouteConfig(_Strict):
    strategy: Strategy = Strategy.PRIORITY
    targets: list[TargetConfig] = Field(min_length=1)
    # Seconds past its TTL a cached answer of this route may stand in when every target fails
    # (over the cache section's default; a request's x-cache-stale-if-error over both).
    stale_if_error: int | None = Field(None, ge=0, le=30 * 86400)


class RetryConfig(_Strict):
    max_retries: int = Field(1, ge=0, le=10)  # tries on the same target after the first, unless the request says
    base_delay: float = Field(0.05, ge=0)  # seconds; full jitter over base * 2^attempt
    max_delay: float = Field(2.0, ge=0)
    max_retry_after: float = Field(30.0, ge=0)  # a longer Retry-After is not waited for
    # Retries (every attempt after a request's first) stay under this share of requests, so that an
    # outage cannot multiply the traffic sent to providers; a few are always allowed on a quiet service.
    budget_ratio: float = Field(0.2, ge=0, le=1)
    budget_min_retries: int = Field(10, ge=0)
    budget_window: float = Field(10.0, gt=0)


class BreakerConfig(_Strict):
    enabled: bool = True
    window: float = Field(30.0, gt=0)  # seconds of calls the rates are computed over
    min_calls: int = Field(10, ge=1)
    failure_rate: float = Field(0.5, gt=0, le=1)
    slow_call_rate: float = Field(1.0, gt=0, le=1)
    slow_call_seconds: float = Field(60.0, gt=0)
    wait: float = Field(5.0, gt=0)  # open this long after the first trip, doubling on each repeated trip
    max_wait: float = Field(300.0, gt=0)
    half_open_probes: int = Field(2, ge=1, le=100)


class ResilienceConfig(_Strict):
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()


class GatewayConfig(_Strict):
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    resilience: ResilienceConfig = ResilienceConfig()
    # Governance (see governance/settings_model.py): caller limits, budgets, price overrides, cache.
    limits: LimitsConfig = LimitsConfig()
    budgets: BudgetsConfig = BudgetsConfig()
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    cache: CacheConfig = CacheConfig()
    # Observability (see observability/settings_model.py): provider health and alert webhooks.
    health: HealthConfig = HealthConfig()
    alerts: AlertsConfig = AlertsConfig()
    # The request audit: what is kept of each API request, per project (observability/settings_model.py).
    audit: RequestAuditConfig = RequestAuditConfig()

    @model_validator(mode="after")
    def _consistent(self) -> GatewayConfig:
        for name in self.providers:
            if not INSTANCE_NAME.match(name):
                raise ValueError(f"provider name {name!r} must be letters, digits, '_', '.', '-' (no '/')")
        known = set(self.providers) | {"sandbox"}
        for route, config in self.routes.items():
            for target in config.targets:
                if target.provider not in known:
                    raise ValueError(f"route {route!r} names unknown provider {target.provider!r}")
        return self


def load_config(path: Path | None) -> GatewayConfig:
    """Read and validate the YAML file; no file means no providers beyond the built-in sandbox."""
    if path is None:
        return GatewayConfig()
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"API_CONNECTOR_CONFIG: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"API_CONNECTOR_CONFIG: {path} is not valid YAML: {exc}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: Any, *, source: str = "configuration") -> GatewayConfig:
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False):
            where = ".".join(str(part) for part in err["loc"]) or "(top level)"
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None
