"""``file:/PATH`` credential references: a mounted secret file (a service-account key), read off the
request path, again once a minute, and only ever named by the operator."""

from __future__ import annotations

from pathlib import Path

import pytest

from api_connector.config import parse_config
from api_connector.credentials import resolver as resolver_module
from api_connector.credentials.resolver import CredentialResolver
from api_connector.errors import ConfigError, CredentialError
from api_connector.observability.redaction import Redactor


def test_the_configuration_takes_absolute_file_references_only() -> None:
    config = parse_config({"providers": {"g": {"type": "gemini", "credential": "file:/run/secrets/gemini-key"}}})
    assert config.providers["g"].credential == "file:/run/secrets/gemini-key"
    with pytest.raises(ConfigError, match="file:/PATH"):
        parse_config({"providers": {"g": {"type": "gemini", "credential": "file:relative/key"}}})


async def test_a_file_is_read_once_then_known_until_it_is_a_minute_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "key"
    secret.write_text("file-secret-123\n")
    reference = f"file:{secret}"
    redactor = Redactor()
    resolver = CredentialResolver({}, redactor)
    assert resolver.known(reference) is None  # never read yet: resolve it
    assert await resolver.resolve(reference) == "file-secret-123"
    assert resolver.known(reference) == "file-secret-123"
    assert redactor.scrub("it was file-secret-123") != "it was file-secret-123"
    secret.write_text("rotated-secret-456")
    assert resolver.known(reference) == "file-secret-123"
    now = resolver_module.time.monotonic()
    monkeypatch.setattr(resolver_module.time, "monotonic", lambda: now + 61)
    assert resolver.known(reference) is None
    assert await resolver.resolve(reference) == "rotated-secret-456"


async def test_a_missing_or_empty_file_is_a_credential_error(tmp_path: Path) -> None:
    resolver = CredentialResolver({}, Redactor())
    with pytest.raises(CredentialError, match="cannot be read: FileNotFoundError"):
        await resolver.resolve(f"file:{tmp_path}/absent")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(CredentialError, match="is an empty file"):
        await resolver.resolve(f"file:{tmp_path}/empty")
