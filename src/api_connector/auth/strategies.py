"""How a provider's credential is presented upstream: an ``Auth`` strategy per provider declaration.

A strategy gets the secret (the resolved credential: a key, or a structured secret as JSON text) and the
request as it will be sent (method, URL, headers, query, body) and changes its headers or query in
place, last, after everything else was set (a signature must cover the final request). Strategies that
must first trade the secret for a token (OAuth 2.0, a Google service account) return an awaitable;
the plain ones (bearer, a named header, a query parameter, basic) do their work at once.

A strategy that keeps state (the tokens it obtained) is declared once and bound to each running
service (``Bindable.bind``): the bound one gets the service's ``AuthIO`` (its HTTP client under the
address guard, its redactor) and keeps its tokens for that service only.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from api_connector.wire.base import VendorError


class Auth(Protocol):
    def apply(
        self, secret: str, method: str, url: str, headers: dict[str, str], query: dict[str, str], body: bytes | None
    ) -> Awaitable[None] | None:
        """Present ``secret`` on the request; an awaitable when it must be exchanged first."""
        ...


class AuthIO(Protocol):
    """What a running service lends a strategy that trades its secret for a token."""

    async def post_form(
        self, url: str, form: Mapping[str, str], decode_error: Callable[[bytes], VendorError | None]
    ) -> bytes:
        """POST ``form`` (URL-encoded) to a token endpoint; the 2xx body, else its classified failure."""
        ...

    def keep_secret(self, value: str) -> None:
        """Mask ``value`` wherever the service writes or answers (a field of a structured secret)."""
        ...


@runtime_checkable
class Bindable(Protocol):
    """A declared strategy whose working copy belongs to one running service."""

    def bind(self, io: AuthIO) -> Auth: ...


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


BEARER = AuthScheme()
NO_AUTH = AuthScheme(kind=AuthKind.NONE)
