"""External stores by reference, against a real OpenBao dev server and a real moto AWS server."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from api_connector.credentials.external import ExternalConfig, ExternalSecrets
from api_connector.credentials.resolver import Access, CredentialResolver
from api_connector.errors import CredentialError, SecretStoreUnavailable
from api_connector.observability.redaction import Redactor
from tests.credentials.servers import BAO_TOKEN, ExternalServer, bao_put, free_port

NOBODY = Access()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_openbao_kv(bao: ExternalServer) -> None:
    bao_put(bao, "providers/openai", {"api_key": "sk-from-openbao-0000000001", "org": {"id": "org-1"}})
    clock = Clock()
    store = ExternalSecrets(ExternalConfig(vault_addr=bao.url, vault_token=BAO_TOKEN, ttl=30, timeout=2), clock)
    resolver = CredentialResolver({}, redactor := Redactor())
    resolver.register_store("vault", store.vault)
    assert await resolver.resolve("vault:secret/providers/openai#api_key") == "sk-from-openbao-0000000001"
    assert "sk-from-openbao-0000000001" in redactor  # handed out, so scrubbed from now on
    assert json.loads(await store.vault("secret/providers/openai#org", NOBODY)) == {"id": "org-1"}

    # Cached for the TTL: a change in the store shows only after it.
    bao_put(bao, "providers/openai", {"api_key": "sk-rotated-in-openbao-0002"})
    assert await store.vault("secret/providers/openai#api_key", NOBODY) == "sk-from-openbao-0000000001"
    clock.now += 31
    assert await store.vault("secret/providers/openai#api_key", NOBODY) == "sk-rotated-in-openbao-0002"

    with pytest.raises(CredentialError, match="does not exist") as missing:
        await store.vault("secret/providers/nothing#api_key", NOBODY)
    assert not isinstance(missing.value, SecretStoreUnavailable)
    with pytest.raises(CredentialError, match="no field 'nope'"):
        await store.vault("secret/providers/openai#nope", NOBODY)
    denied = ExternalSecrets(ExternalConfig(vault_addr=bao.url, vault_token="not-the-token", timeout=2))
    with pytest.raises(CredentialError, match="refused the token") as refused:
        await denied.vault("secret/providers/openai#api_key", NOBODY)
    assert "not-the-token" not in refused.value.message


async def test_openbao_down_is_a_clear_error_and_recovers(bao: ExternalServer) -> None:
    bao_put(bao, "down/k", {"v": "sk-while-it-was-up-00000001"})
    clock = Clock()
    store = ExternalSecrets(ExternalConfig(vault_addr=bao.url, vault_token=BAO_TOKEN, ttl=5, timeout=2), clock)
    assert await store.vault("secret/down/k#v", NOBODY) == "sk-while-it-was-up-00000001"
    bao.stop()
    clock.now += 6
    started = time.monotonic()
    with pytest.raises(SecretStoreUnavailable) as down:
        await store.vault("secret/down/k#v", NOBODY)
    assert down.value.status == 503 and down.value.retryable and "cannot reach the vault" in down.value.message
    # Held briefly: the next requests are told at once instead of each waiting on the dead store.
    with pytest.raises(SecretStoreUnavailable):
        await store.vault("secret/down/k#v", NOBODY)
    assert time.monotonic() - started < 5


async def test_vault_not_configured() -> None:
    store = ExternalSecrets(ExternalConfig())
    with pytest.raises(CredentialError, match="VAULT_ADDR"):
        await store.vault("secret/x#y", NOBODY)
    unreachable = ExternalSecrets(
        ExternalConfig(vault_addr=f"http://127.0.0.1:{free_port()}", vault_token="t", timeout=1)
    )
    with pytest.raises(SecretStoreUnavailable):
        await unreachable.vault("secret/x#y", NOBODY)


async def test_aws_secrets_manager(aws: ExternalServer) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=aws.url)
    client.create_secret(Name="prod/anthropic", SecretString="sk-ant-from-moto-000000001")
    client.create_secret(Name="prod/bundle", SecretString=json.dumps({"key": "sk-bundle-field-0000001", "n": 3}))
    store = ExternalSecrets(ExternalConfig(aws_region="us-east-1", aws_endpoint_url=aws.url, timeout=3))
    assert await store.aws("prod/anthropic", NOBODY) == "sk-ant-from-moto-000000001"
    assert await store.aws("prod/bundle#key", NOBODY) == "sk-bundle-field-0000001"
    with pytest.raises(CredentialError, match="does not exist"):
        await store.aws("prod/missing", NOBODY)
    with pytest.raises(CredentialError, match="no field 'other'"):
        await store.aws("prod/bundle#other", NOBODY)
    with pytest.raises(CredentialError, match="not JSON"):
        await store.aws("prod/anthropic#key", NOBODY)


async def test_aws_down(aws: ExternalServer) -> None:
    store = ExternalSecrets(ExternalConfig(aws_region="us-east-1", aws_endpoint_url=aws.url, timeout=2))
    aws.stop()
    with pytest.raises(SecretStoreUnavailable, match="cannot reach AWS Secrets Manager"):
        await store.aws("prod/anything", NOBODY)
