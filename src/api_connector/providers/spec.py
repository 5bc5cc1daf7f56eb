"""A provider is a declaration: where it lives, how it authenticates, what it can do in which wire shape.

The router, the executor and the API read these fields; none of them branches on a provider's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from api_connector.auth.strategies import BEARER, NO_AUTH, Auth, AuthKind, AuthScheme, Bindable
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
    (embedding inputs, ...); larger requests are split and merged back in order. ``max_batch_tokens``:
    the most tokens (summed over the items) a vendor takes in one call, where it caps them.
    ``{voice}`` in a path is filled in with the request's voice (ElevenLabs names it in the path).
    ``sibling_host``: the endpoint is served on a sibling of the base URL's host, its first label
    swapped (AssemblyAI's streaming socket: ``("api", "streaming")`` makes ``api.assemblyai.com``
    ``streaming.assemblyai.com`` and the EU's ``api.eu.`` ``streaming.eu.``); a base URL whose host
    does not begin with that label (a proxy, a test double) serves the endpoint itself. The sibling
    must be one of the provider's ``linked_origins`` (the credential goes there too).
    """

    path: str
    wire: Wire | None = None
    stream_path: str | None = None  # when a vendor streams from another path (Gemini)
    method: str = "POST"
    query: Mapping[str, str] = field(default_factory=_frozen)  # sent with every call (Azure's api-version)
    max_batch: int | None = None
    max_batch_tokens: int | None = None
    # The model is one path segment, every reserved character percent-encoded (Bedrock's model ids hold
    # ":" and its inference-profile ARNs "/"), as the vendor's own SDK sends it.
    model_segment: bool = False

    sibling_host: tuple[str, str] | None = None

    def url_for(self, base_url: str, path: str) -> str | None:
        """The absolute URL of ``path`` when the endpoint lives on a sibling host; None: below ``base_url``."""
        if self.sibling_host is None:
            return None
        label, sibling = self.sibling_host
        parts = urlsplit(base_url)
        first, dot, rest = parts.netloc.partition(".")
        if first.lower() != label or not dot:
            return None
        return urlunsplit((parts.scheme, f"{sibling}.{rest}", parts.path, "", "")) + path

    def path_for(self, model: str, *, stream: bool = False) -> str:
        """The path of a call to ``model`` (a stream's own path when the vendor has one)."""
        path = self.stream_path if stream and self.stream_path else self.path
        return path.replace("{model}", quote(model, safe="") if self.model_segment else model)
    # The model used when a request names the instance alone (``DEFAULT_TTS_PROVIDER`` naming it).
    default_model: str | None = None


@dataclass(frozen=True, slots=True)
class ModelListing:
    """How a provider lists the models it serves: a free GET below the base URL, and how to read it
    (a function of ``wire.model_lists``)."""

    path: str
    parse: Callable[[bytes], list[str]]


@dataclass(frozen=True, slots=True)
class HealthProbe:
    """A cheap call that costs nothing at the provider and proves the credential works."""

    path: str
    method: str = "GET"
    ok_statuses: tuple[int, ...] = (200,)


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The answer headers in which a provider says how much of its quota is left, and when it refills.

    Read by quota steering (``governance.quota``) for a provider that declares them; providers that
    declare none are read for the common names (OpenAI's ``x-ratelimit-*``, Anthropic's, the IETF's).
    """

    remaining: tuple[str, ...]  # counts; at or below the low-water mark the target is avoided
    reset: tuple[str, ...] = ()  # seconds, a duration or an instant until the counts refill


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    type: str
    title: str
    base_url: str | None  # None: the instance must give one (custom providers)
    auth: Auth | Bindable = BEARER  # a Bindable is bound to each running service (routing.exchange)
    endpoints: Mapping[Capability, Endpoint] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=_frozen)
    probe: HealthProbe | None = None
    models: tuple[str, ...] = ()  # declared: shown until (or unless) a live listing says otherwise
    listing: ModelListing | None = None
    # Caller headers with these prefixes reach the upstream (e.g. the sandbox's fault controls).
    passthrough_header_prefixes: tuple[str, ...] = ()
    requires_credential: bool = True
    # Answered inside this process instead of over the network (the sandbox).
    local: LocalUpstream | None = None
    docs_url: str | None = None
    rate_limit_headers: RateLimitHeaders | None = None  # None: the common names
    # Origins besides the base URL's that the vendor's answers send the gateway to, credential and all
    # (Replicate's prediction streams live on another host); "https://*.vendor.com" stands for its
    # subdomains. No other origin is ever followed.
    linked_origins: tuple[str, ...] = ()

    def supports(self, capability: Capability) -> bool:
        if capability in self.endpoints or capability is Capability.REQUESTS:
            return True
        through = TRANSLATED_THROUGH.get(capability)
        return through is not None and through in self.endpoints


__all__ = [
    "BEARER",
    "NO_AUTH",
    "Auth",
    "AuthKind",
    "AuthScheme",
    "Endpoint",
    "HealthProbe",
    "ModelListing",
    "ProviderSpec",
    "RateLimitHeaders",
]
