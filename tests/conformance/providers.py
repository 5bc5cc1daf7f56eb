"""What every capability's conformance suite checks of a provider type, whatever it was asked to do:
how it presents its credential upstream, the headers it must always send, and which types a
capability's suite must cover.

Spelled out here rather than read from the specs, so that a wrong spec fails the suites instead of
passing them.
"""

from __future__ import annotations

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from tests.replay_upstream import ReceivedRequest

CREDENTIAL_HEADER: dict[str, tuple[str, str]] = {
    "openai": ("authorization", "Bearer {secret}"),
    "groq": ("authorization", "Bearer {secret}"),
    "openai_compatible": ("authorization", "Bearer {secret}"),
    "anthropic": ("x-api-key", "{secret}"),
    "cohere": ("authorization", "Bearer {secret}"),
    "voyage": ("authorization", "Bearer {secret}"),
    "jina": ("authorization", "Bearer {secret}"),
    "together": ("authorization", "Bearer {secret}"),
    "azure_openai": ("api-key", "{secret}"),
}
REQUIRED_HEADERS: dict[str, dict[str, str]] = {"anthropic": {"anthropic-version": "2023-06-01"}}


def check_credential(provider: str, received: ReceivedRequest, secret: str, gateway_key: str) -> None:
    header, template = CREDENTIAL_HEADER[provider]
    assert received.headers.get(header) == template.format(secret=secret)
    for name, value in REQUIRED_HEADERS.get(provider, {}).items():
        assert received.headers.get(name) == value
    if header != "authorization":
        assert "authorization" not in received.headers, "no Authorization header besides the vendor's own"
    assert not [value for value in received.headers.values() if gateway_key in value], (
        "the caller's gateway key must not reach the upstream"
    )


def network_provider_types(capability: Capability) -> set[str]:
    """Every catalog type that sends ``capability`` to a vendor over the network (the sandbox answers
    in-process): each must have a recorded (or documented) case in that capability's suite."""
    return {
        name for name, spec in REGISTRY.items()
        if (endpoint := spec.endpoints.get(capability)) is not None
        and endpoint.wire is not None and spec.local is None
    }


def check_covered(capability: Capability, covered: set[str]) -> None:
    """Every provider type that sends ``capability`` over the network has a case in its suite
    (``covered``: the types the cases name), and says how it sends its credential."""
    assert covered <= REGISTRY.keys()
    declared = network_provider_types(capability)
    missing = declared - covered
    assert not missing, f"provider types with {capability.value} and no conformance case: {sorted(missing)}"
    assert declared <= CREDENTIAL_HEADER.keys(), "say how each provider sends its credential"
