"""Settings: the operators' variable names, defaults, and one clear message for a bad value."""

from __future__ import annotations

import base64

import pytest

from api_connector.errors import ConfigError
from api_connector.settings import load_settings


def test_defaults_are_the_embedded_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POSTGRES__HOST", "REDIS__HOST", "DATABASE_URL", "REDIS_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.port == 9004
    assert settings.resolved_database_url().startswith("sqlite+aiosqlite:///")
    assert settings.resolved_redis_url() is None


def test_operator_names(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SERVICE_NAME": "gw",
        "PORT": "9100",
        "HOST": "0.0.0.0",
        "ENV": "production",
        "LOG_LEVEL": "debug",
        "POSTGRES__HOST": "db.internal",
        "POSTGRES__PORT": "6543",
        "POSTGRES__DB_NAME": "apc",
        "POSTGRES__AUTH__USER": "svc",
        "POSTGRES__AUTH__PASSWORD": "p@ss:w/rd",
        "POSTGRES__MAX_OPEN_CONNECTION": "40",
        "POSTGRES__MAX_IDEAL_CONNECTION": "8",
        "POSTGRES__SSL_MODE": "require",
        "REDIS__HOST": "cache",
        "REDIS__PORT": "6380",
        "REDIS__DB": "2",
        "REDIS__MAX_CONNECTION": "64",
        "INTEGRATION_CRYPTO_KEY": base64.b64encode(b"k" * 32).decode(),
        "CRYPTO_ALGORITHM": "AES-256-GCM",
        "OAUTH_CALLBACK_URL": "https://gw.example/oauth/callback",
        "DEFAULT_OPENAI_MODEL": "gpt-4.1-mini",
        "DEFAULT_STT_PROVIDER": "deepgram",
        "DEFAULT_TTS_PROVIDER": "elevenlabs",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    s = load_settings()
    assert (s.service_name, s.port, s.host, s.env, s.log_level) == ("gw", 9100, "0.0.0.0", "production", "DEBUG")
    assert s.resolved_database_url() == "postgresql+asyncpg://svc:p%40ss%3Aw%2Frd@db.internal:6543/apc"
    assert s.postgres.max_open_connection == 40 and s.postgres.max_ideal_connection == 8
    assert s.postgres_connect_args() == {"ssl": "require"}
    assert s.resolved_redis_url() == "redis://cache:6380/2" and s.redis.max_connection == 64
    assert s.default_openai_model == "gpt-4.1-mini" and s.default_tts_provider == "elevenlabs"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/d")
    assert load_settings().resolved_database_url() == "postgresql+asyncpg://u@h/d"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "not-a-port", "PORT"),
        ("POSTGRES__PORT", "99999", "POSTGRES__PORT"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("INTEGRATION_CRYPTO_KEY", base64.b64encode(b"short").decode(), "INTEGRATION_CRYPTO_KEY"),
        ("INTEGRATION_CRYPTO_KEY", "%%%not base64", "INTEGRATION_CRYPTO_KEY"),
    ],
)
def test_bad_value_names_the_key(monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert error.value.message.startswith("invalid setting ") and expected in error.value.message
    if name == "INTEGRATION_CRYPTO_KEY":
        assert value not in error.value.message  # the (bad) secret itself is never echoed
