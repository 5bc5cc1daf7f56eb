"""How a provider's credential is presented upstream: an ``Auth`` strategy per provider declaration.

A strategy gets the secret (the resolved credential: a key, or a structured secret as JSON text) and the
request as it will be sent (method, URL, headers, query, body) and changes its headers or query in
place, last, after everything else was set (a signature must cover the final request). Strategies that
must first trade the secret for a token (OAuth 2.0, a Google service account) return an awaitable;
the plain ones (bearer, a named header, a query parameter, basic) do their work at once.

A strategy that trades its secret (``ExchangingAuth``) is a declaration until each process binds it to
that process's ``TokenClient`` (``routing.exchange.Upstreams.auth``): the bound object keeps the tokens
and the exchanges in flight, and reaches token endpoints through the gateway's transport.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Auth(Protocol):
    def apply(
        self, secret: str, method: str, url: str, headers: dict[str, str], query: dict[str, str], body: bytes | None
    ) -> Awaitable[None] | None:
        """Present ``secret`` on the request; an awaitable when it must be exchanged first."""
        ...


class AuthKind(StrEnum):
    BEARER = "bearer"  # Authorization: Bearer <secret>
    HEADER = "header"  # <name>: <prefix><secret>
    QUERY = "query"  # ?<name>=<secret>
    BASIC = "basic"  # Authorization: Basic base64(<secret>), the secret being "user:password"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class AuthScheme:
    """A text secret sent as it is: the strategies most providers use."""

    kind: AuthKind = AuthKind.BEARER
    name: str = "Authorization"
    prefix: str = "Bearer "

    def apply(
        self, secret: str, method: str, url: str, headers: dict[str, str], query: dict[str, str], body: bytes | None
    ) -> None:
        kind = self.kind
        if kind is AuthKind.BEARER:
            headers["Authorization"] = f"Bearer {secret}"
        elif kind is AuthKind.HEADER:
            headers[self.name] = f"{self.prefix}{secret}"
        elif kind is AuthKind.QUERY:
            query[self.name] = secret
        elif kind is AuthKind.BASIC:
            headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode("ascii")


class TokenClient(Protocol):
    async def post_form(self, url: str, form: Mapping[str, str]) -> tuple[int, bytes]:
        """POST ``form`` (URL-encoded) to a token endpoint: (status, body). Raises UpstreamError when
        the endpoint cannot be reached."""
        ...


@runtime_checkable
class ExchangingAuth(Auth, Protocol):
    def bind(self, client: TokenClient) -> Auth:
        """This strategy for one process: its token cache, exchanging through ``client``."""
        ...


BEARER = AuthScheme()
NO_AUTH = AuthScheme(kind=AuthKind.NONE)
