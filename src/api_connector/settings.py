"""Service settings: the only module that reads the environment.

Names are the ones operators of the service already use (``POSTGRES__HOST``, ``REDIS__PORT``, ...);
nested groups use ``__`` as the delimiter. ``DATABASE_URL`` / ``REDIS_URL`` win over the groups when
set. With no PostgreSQL host the service keeps its data in a SQLite file; with no Redis it keeps shared
state in memory.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api_connector.errors import ConfigError


class PostgresAuth(BaseModel):
    user: str = "postgres"
    password: SecretStr = SecretStr("")


class PostgresSettings(BaseModel):
    host: str | None = None
    port: int = Field(5432, ge=1, le=65535)
    db_name: str = "api_connector"
    auth: PostgresAuth = PostgresAuth()
    max_open_connection: int = Field(20, ge=1)
    # The historical spelling ("ideal" for "idle") is what operators already set.
    max_ideal_connection: int = Field(5, ge=0)
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"


class RedisSettings(BaseModel):
    host: str | None = None
    port: int = Field(6379, ge=1, le=65535)
    db: int = Field(0, ge=0)
    max_connection: int = Field(50, ge=1)


class Settings(BaseSettings):
    """Everything the service reads from its environment, validated once at start-up."""

    model_config = SettingsConfigDict(
        env_nested_delimiter="__", case_sensitive=False, extra="ignore", populate_by_name=True
    )

    service_name: str = "api-connector"
    host: str = "127.0.0.1"
    port: int = Field(9004, ge=0, le=65535)
    env: Literal["development", "test", "staging", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    access_log: bool = True

    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path("data")

    integration_crypto_key: SecretStr | None = None
    # Earlier root keys, comma-separated, still accepted for unwrapping while a root rotation runs.
    integration_crypto_keys_old: SecretStr | None = None
    crypto_algorithm: Literal["AES-256-GCM"] = "AES-256-GCM"
    # Seconds a decrypted credential is kept in memory; rotate/disable/delete drop it at once here.
    credential_cache_ttl: float = Field(30.0, ge=0)
    # Seconds between reloads of the master-key ring (a new primary reaches every replica within it).
    key_ring_ttl: float = Field(30.0, gt=0)
    # Default overlap window of a credential's previous version after a new one is added (seconds).
    credential_overlap_seconds: int = Field(3600, ge=0)
    # External secret stores, referenced as vault:MOUNT/PATH#FIELD and aws:SECRET_ID[#FIELD].
    vault_addr: str | None = None
    vault_token: SecretStr | None = None
    vault_namespace: str | None = None
    vault_kv_version: Literal[1, 2] = 2
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    external_secret_ttl: float = Field(60.0, ge=0)
    external_secret_timeout: float = Field(5.0, gt=0)
    oauth_callback_url: str | None = None

    # Invalid gateway keys one client address may present in a window of AUTH_FAILURE_WINDOW seconds before
    # its requests are refused (429 auth_throttled) for the rest of that window (0: never refused).
    auth_failure_limit: int = Field(20, ge=0)
    auth_failure_window: float = Field(60.0, gt=0)
    # Seconds a provider's live model list is kept before it is asked again (0: never asked; the
    # declared models are shown and nothing is refused).
    model_list_ttl: float = Field(3600.0, ge=0)

    default_openai_model: str = "gpt-4o-mini"
    default_stt_provider: str = "openai"
    default_tts_provider: str = "openai"

    api_connector_config: Path | None = None
    api_connector_admin_key: SecretStr | None = None

    # Whether providers that projects add may reach loopback and private addresses (None: all but production).
    upstream_allow_private: bool | None = None
    # Whole answers at least this large are compressed when the client accepts it (0: never).
    compression_min_bytes: int = Field(1024, ge=0)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    # The largest audio file a transcription takes (OpenAI's own limit by default); beyond it, 413
    # audio_too_large. Uploads are spooled to a temporary file as they arrive, never held whole.
    max_audio_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    workers: int = Field(1, ge=1, le=64)
    # Records (usage, audit) waiting for the batch writer; producers wait when it is full.
    record_queue_size: int = Field(10_000, ge=10)
    record_batch_size: int = Field(500, ge=1)
    record_flush_interval: float = Field(0.5, gt=0)
    key_cache_ttl: float = Field(5.0, ge=0)
    # Requests being served at once (per process) before admission control refuses low, then normal
    # priority ones with 503 + Retry-After; 0 turns it off.
    max_in_flight: int = Field(1000, ge=0)
    # Prefix of every Redis key this service writes, so several deployments can share one Redis.
    redis_key_prefix: str = Field("apc:", min_length=1, max_length=64)
    # OpenTelemetry spans (request and upstream attempts, GenAI conventions) to the global tracer provider.
    tracing_enabled: bool = False
    # Set by ``serve --workers N`` for its workers: prometheus_client's multiprocess mode, totals over workers.
    prometheus_multiproc_dir: Path | None = None
    # When set, GET /metrics answers only "Authorization: Bearer <this token>" (its labels describe every
    # project's traffic); unset, it needs no key, as a scraper on a private network expects.
    metrics_token: SecretStr | None = None
    # Provider instances that projects add, and models no operator configured, appear in metric labels
    # by name only when this is on; otherwise as "project" and "other" (scrapers see every label).
    metrics_project_labels: bool = False
    # When Redis (shared rate limits) is unreachable: "closed" refuses (503 limiter_unavailable);
    # "local" limits in this process with every limit divided by RATE_LIMIT_LOCAL_SHARE (replicas).
    rate_limit_on_redis_error: Literal["closed", "local"] = "local"
    rate_limit_local_share: int = Field(1, ge=1, le=1000)
    # Responses API answers kept per project (GET/DELETE /v1/responses/{id}, previous_response_id): off,
    # the gateway keeps nothing and refuses previous_response_id; on, answers are kept unless the
    # request says "store": false, for RESPONSES_STORE_DAYS.
    responses_store: bool = False
    responses_store_days: int = Field(30, ge=1, le=3650)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("metrics_token")
    @classmethod
    def _token_or_none(cls, value: SecretStr | None) -> SecretStr | None:
        # METRICS_TOKEN= (set but empty) must not become a token that an empty bearer matches; spaces
        # around it are dropped, as HTTP drops them around the header value it is compared with.
        token = value.get_secret_value().strip() if value is not None else ""
        return SecretStr(token) if token else None

    @field_validator("integration_crypto_key")
    @classmethod
    def _master_key_is_256_bits(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        _check_256_bit_key(value.get_secret_value())
        return value

    @field_validator("integration_crypto_keys_old")
    @classmethod
    def _old_keys_are_256_bits(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        for position, key in enumerate(value.get_secret_value().split(","), start=1):
            try:
                _check_256_bit_key(key.strip())
            except ValueError as exc:
                raise ValueError(f"key {position}: {exc}") from None
        return value

    def root_keys(self) -> tuple[bytes | None, tuple[bytes, ...]]:
        """The configured root key (None: not set) and the earlier ones, decoded."""
        primary = self.integration_crypto_key
        old = self.integration_crypto_keys_old
        decoded_old = tuple(
            base64.b64decode(k.strip()) for k in (old.get_secret_value().split(",") if old else ()) if k.strip()
        )
        return (base64.b64decode(primary.get_secret_value()) if primary else None), decoded_old

    @property
    def access_log_enabled(self) -> bool:
        """Access lines are info-level: on with ACCESS_LOG unless LOG_LEVEL hides info."""
        return self.access_log and self.log_level in ("DEBUG", "INFO")

    @property
    def allow_private_upstreams(self) -> bool:
        return self.upstream_allow_private if self.upstream_allow_private is not None else self.env != "production"

    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: DATABASE_URL, else the POSTGRES__ group, else a SQLite file."""
        if self.database_url:
            return _async_driver(self.database_url)
        if self.postgres.host:
            pg = self.postgres
            password = quote(pg.auth.password.get_secret_value(), safe="")
            auth = quote(pg.auth.user, safe="") + (f":{password}" if password else "")
            return f"postgresql+asyncpg://{auth}@{pg.host}:{pg.port}/{pg.db_name}"
        return f"sqlite+aiosqlite:///{self.data_dir / 'api-connector.db'}"

    def resolved_redis_url(self) -> str | None:
        """The Redis URL, or None when shared state stays in this process's memory."""
        if self.redis_url:
            return self.redis_url
        if self.redis.host:
            return f"redis://{self.redis.host}:{self.redis.port}/{self.redis.db}"
        return None

    def postgres_connect_args(self) -> dict[str, object]:
        mode = self.postgres.ssl_mode
        if not self.resolved_database_url().startswith("postgresql") or mode in ("disable", "allow", "prefer"):
            return {}
        return {"ssl": mode}


def _check_256_bit_key(value: str) -> None:
    # Messages never quote the value: it is a secret even when malformed.
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64") from exc
    if len(raw) != 32:
        raise ValueError(f"must decode to 32 bytes (256 bits), got {len(raw)}")


def _async_driver(url: str) -> str:
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Read and validate the environment; a bad value becomes one ConfigError naming the key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = "__".join(str(part) for part in err["loc"]).upper()
            problems.append(f"{key}: {err['msg']}")
        raise ConfigError("invalid setting " + "; ".join(problems)) from None


def environment() -> Mapping[str, str]:
    """The process environment, for ``env:NAME`` credential references (read here and nowhere else)."""
    return os.environ
