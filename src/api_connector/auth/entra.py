"""Microsoft Entra ID client credentials: a service principal's secret traded for a bearer token.

The credential is a JSON secret ``{"tenant_id", "client_id", "client_secret"}``, optionally with
``authority`` (the login host of another cloud, ``https://login.microsoftonline.us`` or
``https://login.chinacloudapi.cn``, or a test's loopback server) and ``scope`` (another cloud's
resource). It is posted once (``grant_type=client_credentials``) to
``{authority}/{tenant_id}/oauth2/v2.0/token`` and the answer's token is sent as
``Authorization: Bearer ...`` until shortly before it expires (``auth.tokens``). The authority lives in
the secret, as a Google service account's ``token_uri`` does: which login host a principal belongs to
is part of the principal, and the token request goes through the service's transport under the same
address guard as a project's own provider instances.

A malformed secret is a ``CredentialMalformed`` naming the fields at fault, never a value: the target
is passed over. A refusal by Entra (wrong secret, unknown tenant or client) is an authentication
failure of the target (``classify.classify_token_refusal``), with Entra's ``AADSTS...`` description.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_connector.auth.strategies import AuthIO
from api_connector.auth.tokens import TokenAnswer, TokenCache, decode_oauth_error, read_token
from api_connector.errors import CredentialMalformed

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
COGNITIVE_SERVICES = "https://cognitiveservices.azure.com/.default"
_EXPECTED = 'an Entra ID client secret: JSON {"tenant_id", "client_id", "client_secret"}'


class EntraSecret(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A directory id (GUID) or one of its domain names: it becomes a path segment of the token URL.
    tenant_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$")
    client_id: str = Field(min_length=1, max_length=256)
    client_secret: str = Field(min_length=1)
    authority: str | None = Field(None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    scope: str | None = Field(None, min_length=1)


def parse_secret(secret: str) -> EntraSecret:
    try:
        return EntraSecret.model_validate_json(secret)
    except ValidationError as invalid:
        # Field names and pydantic's error kinds only: the input may be any secret at all.
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or 'the secret'}: {problem['type']}"
            for problem in invalid.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise CredentialMalformed(f"the credential is not {_EXPECTED} ({'; '.join(problems)})") from None


@dataclass(frozen=True, slots=True)
class EntraClientCredentials:
    """The declaration: the scope tokens are asked for, and the authority unless the secret names one."""

    scope: str = COGNITIVE_SERVICES
    authority: str = DEFAULT_AUTHORITY

    def bind(self, io: AuthIO, clock: Callable[[], float] = time.monotonic) -> EntraTokens:
        return EntraTokens(self, io, clock)


class EntraTokens:
    """The strategy as one service runs it: its tokens, fetched through its transport."""

    def __init__(self, declared: EntraClientCredentials, io: AuthIO, clock: Callable[[], float]) -> None:
        self._declared = declared
        self._io = io
        self._tokens = TokenCache(clock)

    def apply(
        self, secret: str, method: str, url: str, headers: dict[str, str], query: dict[str, str], body: bytes | None
    ) -> Awaitable[None] | None:
        token = self._tokens.fresh(secret)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
            return None
        return self._present(secret, headers)

    async def _present(self, secret: str, headers: dict[str, str]) -> None:
        token = await self._tokens.get(secret, lambda: self._fetch(secret))
        headers["Authorization"] = f"Bearer {token}"

    async def _fetch(self, secret: str) -> TokenAnswer:
        credential = parse_secret(secret)
        self._io.keep_secret(credential.client_secret)
        authority = (credential.authority or self._declared.authority).rstrip("/")
        form = {
            "grant_type": "client_credentials",
            "client_id": credential.client_id,
            "client_secret": credential.client_secret,
            "scope": credential.scope or self._declared.scope,
        }
        url = f"{authority}/{credential.tenant_id}/oauth2/v2.0/token"
        return read_token(await self._io.post_form(url, form, decode_oauth_error), "Entra ID")
