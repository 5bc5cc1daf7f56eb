"""Secrets kept elsewhere, by reference: OpenBao/Vault KV (hvac) and AWS Secrets Manager (boto3).

``vault:MOUNT/PATH#FIELD`` reads FIELD of the KV secret PATH on mount MOUNT (``VAULT_KV_VERSION``, 2 by
default); ``aws:SECRET_ID`` reads the secret string, ``aws:SECRET_ID#FIELD`` one field of a JSON one.
Answers are cached for ``EXTERNAL_SECRET_TTL`` seconds, and concurrent misses share one read.

A store that is down fails only the requests that need it, with ``SecretStoreUnavailable`` (503,
retryable): the service starts without it and everything else keeps working. After a failure the
same error is answered for a couple of seconds without asking again, so an unreachable store costs
each waiting request nothing rather than a full timeout. Both clients are blocking; they run on a
worker thread, bounded by ``EXTERNAL_SECRET_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from api_connector.credentials.resolver import Access
from api_connector.errors import CredentialError, SecretStoreUnavailable

_FAILURE_HOLD = 2.0  # seconds a store's failure is answered from memory


class _KVv2Data(BaseModel):
    data: dict[str, Any]


class _KVv2Response(BaseModel):
    data: _KVv2Data


class _KVv1Response(BaseModel):
    data: dict[str, Any]


class _AwsSecretValue(BaseModel):
    SecretString: str | None = None


class _AwsErrorBody(BaseModel):
    Code: str = ""


class _AwsErrorResponse(BaseModel):
    Error: _AwsErrorBody = _AwsErrorBody()


@dataclass(frozen=True, slots=True)
class ExternalConfig:
    vault_addr: str | None = None
    vault_token: str | None = None
    vault_namespace: str | None = None
    vault_kv_version: int = 2
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    ttl: float = 60.0
    timeout: float = 5.0


def _field(fields: dict[str, Any], name: str, where: str) -> str:
    if name not in fields:
        raise CredentialError(f"{where} has no field {name!r}")
    value = fields[name]
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))  # a nested object (service-account JSON)


class ExternalSecrets:
    """The ``vault`` and ``aws`` stores of a ``CredentialResolver``, with their TTL cache."""

    def __init__(self, config: ExternalConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._failures: dict[str, tuple[CredentialError, float]] = {}
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self._vault_client: Any = None
        self._aws_client: Any = None

    @property
    def vault_configured(self) -> bool:
        return bool(self._config.vault_addr)

    async def vault(self, reference: str, _: Access) -> str:
        return await self._cached(f"vault:{reference}", lambda: self._read_vault(reference))

    async def aws(self, reference: str, _: Access) -> str:
        return await self._cached(f"aws:{reference}", lambda: self._read_aws(reference))

    def forget(self, key: str | None = None) -> None:
        """Drop the cached answer (and remembered failure) of one reference (``vault:...``), or all."""
        if key is None:
            self._cache.clear()
            self._failures.clear()
            return
        self._cache.pop(key, None)
        self._failures.pop(key, None)

    async def _cached(self, key: str, read: Callable[[], Awaitable[str]]) -> str:
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        failed = self._failures.get(key)
        if failed is not None and failed[1] > now:
            error = failed[0]
            raise type(error)(error.message)  # a fresh exception: callers annotate the ones they get
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await read()
        except CredentialError as error:
            self._failures[key] = (error, self._clock() + _FAILURE_HOLD)
            future.set_exception(error)
            future.exception()  # retrieved: waiters get it; no "never retrieved" warning when none wait
            raise
        else:
            self._cache[key] = (value, self._clock() + self._config.ttl)
            self._failures.pop(key, None)
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]

    async def _in_thread(self, call: Callable[[], str], store: str) -> str:
        try:
            async with asyncio.timeout(self._config.timeout + 1):
                return await asyncio.to_thread(call)
        except TimeoutError:
            raise SecretStoreUnavailable(f"{store} did not answer within {self._config.timeout:g}s") from None

    # -- OpenBao / Vault -----------------------------------------------------------------------
    def _vault(self) -> Any:
        import hvac

        if self._vault_client is None:
            self._vault_client = hvac.Client(
                url=self._config.vault_addr,
                token=self._config.vault_token,
                namespace=self._config.vault_namespace,
                timeout=self._config.timeout,
            )
        return self._vault_client

    async def _read_vault(self, reference: str) -> str:
        if not self.vault_configured:
            raise CredentialError("vault references need VAULT_ADDR (and VAULT_TOKEN)")
        location, _, name = reference.partition("#")
        mount, _, path = location.partition("/")
        if not (mount and path and name):
            raise CredentialError(f"vault:{reference} must look like vault:MOUNT/PATH#FIELD")
        where = f"vault secret {location}"
        return await self._in_thread(lambda: self._read_vault_sync(mount, path, name, where), "the vault")

    def _read_vault_sync(self, mount: str, path: str, name: str, where: str) -> str:
        import hvac.exceptions as hv
        import requests

        client = self._vault()
        try:
            if self._config.vault_kv_version == 1:
                fields = _KVv1Response.model_validate(client.secrets.kv.v1.read_secret(path, mount_point=mount)).data
            else:
                raw = client.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)
                fields = _KVv2Response.model_validate(raw).data.data
        except hv.InvalidPath:
            raise CredentialError(f"{where} does not exist") from None
        except (hv.Forbidden, hv.Unauthorized):
            raise CredentialError(f"{where}: the vault refused the token (permission denied)") from None
        except (hv.VaultDown, hv.BadGateway, hv.InternalServerError, hv.RateLimitExceeded):
            raise SecretStoreUnavailable(f"{where}: the vault is unavailable (sealed or failing)") from None
        except requests.RequestException as exc:
            raise SecretStoreUnavailable(f"{where}: cannot reach the vault ({type(exc).__name__})") from None
        except (hv.VaultError, ValidationError) as exc:
            raise CredentialError(f"{where}: unexpected answer from the vault ({type(exc).__name__})") from None
        return _field(fields, name, where)

    # -- AWS Secrets Manager -------------------------------------------------------------------
    def _aws(self) -> Any:
        import boto3
        from botocore.config import Config

        if self._aws_client is None:
            self._aws_client = boto3.session.Session().client(
                "secretsmanager",
                region_name=self._config.aws_region,
                endpoint_url=self._config.aws_endpoint_url,
                config=Config(
                    connect_timeout=self._config.timeout,
                    read_timeout=self._config.timeout,
                    retries={"max_attempts": 1},
                ),
            )
        return self._aws_client

    async def _read_aws(self, reference: str) -> str:
        secret_id, _, name = reference.partition("#")
        if not secret_id:
            raise CredentialError("aws references must look like aws:SECRET_ID or aws:SECRET_ID#FIELD")
        where = f"AWS secret {secret_id}"
        return await self._in_thread(lambda: self._read_aws_sync(secret_id, name, where), "AWS Secrets Manager")

    def _read_aws_sync(self, secret_id: str, name: str, where: str) -> str:
        from botocore import exceptions as aws

        try:
            answer = _AwsSecretValue.model_validate(self._aws().get_secret_value(SecretId=secret_id))
        except aws.ClientError as exc:
            code = _AwsErrorResponse.model_validate(exc.response).Error.Code
            if code == "ResourceNotFoundException":
                raise CredentialError(f"{where} does not exist") from None
            if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException"):
                raise CredentialError(f"{where}: AWS refused the request ({code})") from None
            raise SecretStoreUnavailable(f"{where}: AWS Secrets Manager answered {code or 'an error'}") from None
        except (aws.NoCredentialsError, aws.NoRegionError, aws.PartialCredentialsError) as exc:
            raise CredentialError(f"{where}: AWS is not configured ({type(exc).__name__})") from None
        except (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError) as exc:
            raise SecretStoreUnavailable(f"{where}: cannot reach AWS Secrets Manager ({type(exc).__name__})") from None
        except aws.BotoCoreError as exc:
            raise SecretStoreUnavailable(f"{where}: AWS client error ({type(exc).__name__})") from None
        except ValidationError:
            raise CredentialError(f"{where}: unexpected answer from AWS Secrets Manager") from None
        if answer.SecretString is None:
            raise CredentialError(f"{where} holds binary data; store the secret as a string")
        if not name:
            return answer.SecretString
        try:
            fields = json.loads(answer.SecretString)
        except ValueError:
            raise CredentialError(f"{where} is not JSON, so it has no field {name!r}") from None
        if not isinstance(fields, dict):
            raise CredentialError(f"{where} is not a JSON object, so it has no field {name!r}")
        return _field(fields, name, where)
