"""A provider is a declaration: where it lives, how it authenticates, what it can do in which wire shape.

The router, the executor and the API read these fields; none of them branches on a provider's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from api_connector.auth.strategies import BEARER, NO_AUTH, Auth, AuthKind, AuthScheme
from api_connector.core.capabilities import TRANSLATED_THROUGH, Capability

if TYPE_CHECKING:
    from api_connector.transport.local import LocalUpstream
    from api_connector.wire.base import Wire


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One capability: the path below the base URL (``{model}`` is filled in) and its wire shape.

    ``wire`` is the capability's kind of codec (``ChatWire`` for chat, ...): the capability's
    declaration knows which and reads it so. ``max_batch``: the most items one call may carry
    (embedding inputs, ...); larger requests are split and merged back in order.
    """

    path: str
    wire: Wire | None = None
    stream_path: str | None = None  # when a vendor streams from another path (Gemini)
    method: str = "POST"
    query: Mapping[str, str] = field(default_factory=_frozen)  # sent with every call (Azure's api-version)
    max_batch: int | None = None


@dataclass(frozen=True, slots=True)
class HealthProbe:
    """A cheap call that costs nothing at the provider and proves the credential works."""

    path: str
    method: str = "GET"
    ok_statuses: tuple[int, ...] = (200,)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    type: str
    title: str
    base_url: str | None  # None: the instance must give one (custom providers)
    auth: Auth = BEARER
    endpoints: Mapping[Capability, Endpoint] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=_frozen)
    probe: HealthProbe | None = None
    models: tuple[str, ...] = ()
    # Caller headers with these prefixes reach the upstream (e.g. the sandbox's fault controls).
    passthrough_header_prefixes: tuple[str, ...] = ()
    requires_credential: bool = True
    # Answered inside this process instead of over the network (the sandbox).
    local: LocalUpstream | None = None
    docs_url: str | None = None

    def supports(self, capability: Capability) -> bool:
        if capability in self.endpoints or capability is Capability.REQUESTS:
            return True
        through = TRANSLATED_THROUGH.get(capability)
        return through is not None and through in self.endpoints


__all__ = ["BEARER", "NO_AUTH", "Auth", "AuthKind", "AuthScheme", "Endpoint", "HealthProbe", "ProviderSpec"]
