"""Google credentials (Vertex AI): a service account's key traded for an access token, or an API key.

A service-account key as Google's console downloads it (JSON with ``"type": "service_account"``,
``client_email``, ``private_key`` and ``token_uri``; from the vault or an ``env:`` reference) signs a
JWT (RS256) asserting the account for the ``cloud-platform`` scope, which its ``token_uri`` exchanges for
an access token (the OAuth 2.0 JWT bearer grant, RFC 7523). The token is sent as a bearer token and
kept per account until shortly before it expires; calls that find none fresh while an exchange is under
way wait for that one exchange instead of starting their own. A secret that is not JSON is an API key
(Vertex AI express mode) and goes in ``x-goog-api-key``.

The JWT is signed with ``cryptography`` (already a dependency) rather than ``google-auth``: google-auth
refreshes synchronously over its own HTTP client (``requests``), which would block the event loop or
need a thread, and would reach the token endpoint outside ``transport/`` and its address guard. Here
the exchange goes through the gateway's transport (``auth.strategies.AuthIO``, lent to the bound
strategy by ``routing.exchange.Upstreams``), on a guarded pool. Each replica keeps its own tokens: an exchange
invalidates no other token, so replicas need not share or lock anything.

Failures are ``CredentialError``s (the router passes the target over): a secret that is JSON but not a
service-account key is ``ServiceAccountInvalid``, a refused or unreachable token endpoint
``TokenExchangeFailed``. Their messages name fields and the endpoint's own error, never the key.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.auth.strategies import AuthIO
from api_connector.errors import CredentialError, ServiceAccountInvalid, TokenExchangeFailed, UpstreamError
from api_connector.wire.base import VendorError

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ASSERTION_SECONDS = 3600  # the longest Google accepts
# A token is renewed when less than this is left of it (or half its life, for short-lived ones), so a
# call never leaves with a token that expires on the way.
_RENEW_BEFORE = 300.0
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_PARSED_LIMIT = 256  # secrets parsed and remembered; more (rotations) start over


class _KeyFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["service_account"]
    client_email: str
    private_key: str
    private_key_id: str | None = None
    token_uri: str = GOOGLE_TOKEN_URI


class _TokenAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str
    expires_in: float = 3600.0


class _TokenRefusal(BaseModel):
    model_config = ConfigDict(extra="ignore")

    error: str
    error_description: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A parsed service-account key: who it is, where it trades assertions, and its signing key."""

    email: str
    key_id: str | None
    token_uri: str
    signer: rsa.RSAPrivateKey = field(repr=False)

    @property
    def identity(self) -> tuple[str, str | None, str]:
        return self.email, self.key_id, self.token_uri

    def assertion(self, scope: str, now: float) -> str:
        """The signed JWT (RS256) asking ``token_uri`` for an access token with ``scope``."""
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
        if self.key_id:
            header["kid"] = self.key_id
        issued = int(now)
        claims = {
            "iss": self.email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + _ASSERTION_SECONDS,
        }
        signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}".encode()
        signature = self.signer.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_service_account(secret: str) -> ServiceAccount:
    """The service account a JSON secret holds, or ServiceAccountInvalid saying what is wrong with it."""
    try:
        raw = orjson.loads(secret)
    except orjson.JSONDecodeError:
        raise ServiceAccountInvalid("the Google credential starts like JSON but is not valid JSON") from None
    if not isinstance(raw, dict):
        raise ServiceAccountInvalid("the Google credential is JSON but not an object")
    try:
        key_file = _KeyFile.model_validate(raw)
    except ValidationError as exc:
        # Only the names of the fields: pydantic's own message would quote their values (the key).
        fields = sorted({".".join(str(p) for p in error["loc"]) or "type" for error in exc.errors()})
        raise ServiceAccountInvalid(
            "the Google credential is not a service-account key (JSON of type service_account with "
            f"client_email, private_key and token_uri): check {', '.join(fields)}"
        ) from None
    _check_token_uri(key_file.token_uri)
    try:
        signer = serialization.load_pem_private_key(key_file.private_key.encode(), password=None)
    except (ValueError, TypeError):
        raise ServiceAccountInvalid("the service account's private_key is not a PEM private key") from None
    if not isinstance(signer, rsa.RSAPrivateKey):
        raise ServiceAccountInvalid("the service account's private_key is not an RSA key")
    return ServiceAccount(key_file.client_email, key_file.private_key_id, key_file.token_uri, signer)


def _check_token_uri(uri: str) -> None:
    # The assertion obtains tokens for an hour: it must not travel in clear, except to this machine.
    parts = urlsplit(uri)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return
    raise ServiceAccountInvalid("the service account's token_uri must be an https URL")


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float
    renew_at: float


class GoogleTokens:
    """Google auth bound to one process's token client: its token cache and its exchanges in flight."""

    def __init__(
        self, io: AuthIO, scope: str = CLOUD_PLATFORM, clock: Callable[[], float] = time.time
    ) -> None:
        self._io = io
        self._scope = scope
        self._clock = clock
        self._accounts: dict[str, ServiceAccount | None] = {}  # secret -> account (None: an API key)
        self._tokens: dict[tuple[str, str | None, str], _Token] = {}
        self._pending: dict[tuple[str, str | None, str], asyncio.Task[_Token]] = {}
        self.exchanges = 0  # token requests made (for tests and diagnostics)

    def apply(
        self, secret: str, method: str, url: str, headers: dict[str, str], query: dict[str, str], body: bytes | None
    ) -> Awaitable[None] | None:
        account = self._account(secret)
        if account is None:
            headers["x-goog-api-key"] = secret
            return None
        token = self._tokens.get(account.identity)
        if token is not None and self._clock() < token.renew_at:
            headers["Authorization"] = f"Bearer {token.value}"
            return None
        return self._apply_later(account, headers)

    async def _apply_later(self, account: ServiceAccount, headers: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {await self.token(account)}"

    async def token(self, account: ServiceAccount) -> str:
        """A fresh access token for ``account``: cached, or from the one exchange under way, or a new one."""
        key = account.identity
        current = self._tokens.get(key)
        if current is not None and self._clock() < current.renew_at:
            return current.value
        task = self._pending.get(key)
        if task is None:
            task = self._pending[key] = asyncio.ensure_future(self._exchange(account))
            task.add_done_callback(lambda done: self._settled(key, done))
        try:
            # Shielded: a caller that leaves does not cancel the exchange the others wait for.
            return (await asyncio.shield(task)).value
        except CredentialError:
            if current is not None and self._clock() < current.expires_at:
                return current.value  # renewal failed, but the old token has not expired yet
            raise

    def _settled(self, key: tuple[str, str | None, str], task: asyncio.Task[_Token]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved, so that a failure nobody waited for is not reported as lost

    async def _exchange(self, account: ServiceAccount) -> _Token:
        now = self._clock()
        form = {"grant_type": _JWT_BEARER, "assertion": account.assertion(self._scope, now)}
        self.exchanges += 1
        where = urlsplit(account.token_uri).netloc
        try:
            body = await self._io.post_form(account.token_uri, form, _refusal)
        except UpstreamError as exc:
            if exc.upstream_status is None:
                raise TokenExchangeFailed(f"the token endpoint {where} could not be reached: {exc.message}") from None
            # The endpoint's own words when it said any (the failure then carries them in its details).
            said = exc.message if exc.details else None
            refusal = f"{said} (HTTP {exc.upstream_status})" if said else f"HTTP {exc.upstream_status}"
            raise TokenExchangeFailed(f"the token endpoint {where} refused the service account: {refusal}") from None
        try:
            answer = _TokenAnswer.model_validate_json(body)
        except ValidationError:
            raise TokenExchangeFailed(f"the token endpoint {where} answered without an access token") from None
        lifetime = max(answer.expires_in, 0.0)
        token = _Token(answer.access_token, now + lifetime, now + lifetime - min(_RENEW_BEFORE, lifetime / 2))
        self._tokens[account.identity] = token
        return token

    def _account(self, secret: str) -> ServiceAccount | None:
        try:
            return self._accounts[secret]
        except KeyError:
            pass
        account = parse_service_account(secret) if secret.lstrip().startswith("{") else None
        if len(self._accounts) >= _PARSED_LIMIT:
            self._accounts.clear()
        self._accounts[secret] = account
        return account


def _refusal(body: bytes) -> VendorError | None:
    """What a token endpoint said when it refused: OAuth 2.0's ``error`` and ``error_description``."""
    try:
        refusal = _TokenRefusal.model_validate_json(body)
    except ValidationError:
        return None
    said = f"{refusal.error}: {refusal.error_description}" if refusal.error_description else refusal.error
    return VendorError(said, type=refusal.error)


@dataclass(frozen=True, slots=True)
class GoogleAuth:
    """The declaration a provider names (``ProviderSpec.auth``); each process binds it to its transport."""

    scope: str = CLOUD_PLATFORM

    def bind(self, io: AuthIO) -> GoogleTokens:
        return GoogleTokens(io, self.scope)

    def apply(
        self, secret: str, method: str, url: str, headers: dict[str, str], query: dict[str, str], body: bytes | None
    ) -> Awaitable[None] | None:
        if not secret.lstrip().startswith("{"):
            headers["x-goog-api-key"] = secret
            return None
        parse_service_account(secret)  # a bad key is reported as such, even here
        raise CredentialError("a Google service account needs the gateway's token client (GoogleAuth.bind)")


GOOGLE_AUTH = GoogleAuth()
