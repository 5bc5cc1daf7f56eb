"""Access tokens obtained for a credential: OAuth 2.0 token answers, kept until shortly before expiry.

A token endpoint (RFC 6749 section 5) answers ``{access_token, token_type, expires_in}`` or an error
``{error, error_description}``; both are typed here. ``TokenCache`` keeps one token per credential for
one running service and fetches a new one when the old one is close to expiry: one fetch at a time per
credential however many calls wait for it (single flight), and a failed fetch leaves nothing behind,
so the next call asks again. Replicas each hold their own tokens: a client-credentials grant has no
refresh token to rotate, so there is nothing for them to agree on.

Tokens are not taught to the redactor: they are the service's own short-lived credentials, sent only
in the upstream ``Authorization`` header (never logged or answered, and ``Bearer ...`` is masked by
pattern anyway), while every value the redactor knows costs a search of every answer and, for raw
streams, holds back as many bytes as the longest one (a JWT is kilobytes). The secret they were
obtained with is taught (``AuthIO.keep_secret``).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_connector.errors import ConnectorError, UpstreamProtocolError
from api_connector.wire.base import VendorError

# A token is used until this share of its life is left (at most five minutes before it expires):
# requests already sent with it must still be accepted, clocks drift, and answers take time.
_EARLY_SHARE = 0.5
_EARLY_MAX = 300.0
_MAX_KEPT = 1024  # credentials with a token at once; expired ones go first when full


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TokenAnswer(_Lenient):
    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"
    expires_in: int = Field(3600, gt=0)  # seconds; some endpoints send it as a string, read as a number


class OAuthError(_Lenient):
    error: str
    error_description: str | None = None


def decode_oauth_error(body: bytes) -> VendorError | None:
    """An RFC 6749 error body (``invalid_client``, ``invalid_grant``, ...) as typed fields."""
    try:
        said = OAuthError.model_validate_json(body)
    except ValidationError:
        return None
    return VendorError(message=said.error_description or said.error, code=said.error)


def read_token(body: bytes, issuer: str) -> TokenAnswer:
    """The token in a 2xx answer; a protocol error when there is none (never quoting the body)."""
    try:
        return TokenAnswer.model_validate_json(body)
    except ValidationError:
        raise UpstreamProtocolError(f"{issuer} answered without an access token", sent=False) from None


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    use_until: float  # on the cache's clock


Fetch = Callable[[], Awaitable[TokenAnswer]]


class TokenCache:
    """Tokens by credential key for one service; see the module's docstring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, Token] = {}
        self._pending: dict[str, asyncio.Future[Token]] = {}

    def fresh(self, key: str) -> str | None:
        """The credential's token if it is still good for a while: no await on the common path."""
        token = self._tokens.get(key)
        return token.value if token is not None and self._clock() < token.use_until else None

    async def get(self, key: str, fetch: Fetch) -> str:
        """A fresh token for ``key``, fetched by ``fetch`` unless another call is fetching it already."""
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(key, fetch))
            pending.add_done_callback(_retrieved)
            self._pending[key] = pending
        try:
            # Shielded: a caller that gives up (its deadline passed) does not cancel the others' fetch.
            token = await asyncio.shield(pending)
        except ConnectorError as failure:
            # Each waiter gets its own copy: the router writes the failing target's name into it.
            raise copy.copy(failure) from None
        return token.value

    async def _fetch(self, key: str, fetch: Fetch) -> Token:
        try:
            answer = await fetch()
            lifetime = float(answer.expires_in)
            token = Token(answer.access_token, self._clock() + lifetime - min(_EARLY_MAX, lifetime * _EARLY_SHARE))
            self._keep(key, token)
            return token
        finally:
            self._pending.pop(key, None)

    def _keep(self, key: str, token: Token) -> None:
        self._tokens.pop(key, None)
        if len(self._tokens) >= _MAX_KEPT:
            now = self._clock()
            stale = [k for k, t in self._tokens.items() if t.use_until <= now] or [next(iter(self._tokens))]
            for k in stale:
                del self._tokens[k]
        self._tokens[key] = token


def _retrieved(future: asyncio.Future[Token]) -> None:
    """Mark a failed fetch's exception as seen: every waiter may have left before it ended."""
    if not future.cancelled():
        future.exception()
