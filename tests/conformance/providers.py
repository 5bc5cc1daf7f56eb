"""What every capability's conformance suite checks of a provider type, whatever it was asked to do:
how it presents its credential upstream, the headers and query parameters it must always send, and
which types a capability's suite must cover.

Spelled out here rather than read from the specs, so that a wrong spec fails the suites instead of
passing them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from tests.recorded import Interaction, RecordedRequest, RecordedResponse
from tests.replay_upstream import ReceivedRequest, replay_upstream

# Entra ID's documented token answer (tests/data/documented/entra): what an Azure OpenAI instance
# reached as a service principal must then present.
ENTRA_TOKEN_ANSWER = Path(__file__).parents[1] / "data" / "documented" / "entra" / "token.json"
ENTRA_TOKEN = json.loads(ENTRA_TOKEN_ANSWER.read_text("utf-8"))["access_token"]
ENTRA_TENANT = "contoso.onmicrosoft.com"
ENTRA_CLIENT = "00001111-aaaa-2222-bbbb-3333cccc4444"
AZURE_API_VERSION = "2024-10-21"

CREDENTIAL_HEADER: dict[str, tuple[str, str]] = {
    "openai": ("authorization", "Bearer {secret}"),
    "groq": ("authorization", "Bearer {secret}"),
    "openai_compatible": ("authorization", "Bearer {secret}"),
    "anthropic": ("x-api-key", "{secret}"),
    "cohere": ("authorization", "Bearer {secret}"),
    "voyage": ("authorization", "Bearer {secret}"),
    "jina": ("authorization", "Bearer {secret}"),
    "together": ("authorization", "Bearer {secret}"),
    "gemini": ("x-goog-api-key", "{secret}"),
    # A service account's access token (the "secret" checked is the token the test's endpoint issued);
    # an API key (express mode) goes in x-goog-api-key, as for Gemini.
    "vertex": ("authorization", "Bearer {secret}"),
    "azure_openai": ("api-key", "{secret}"),
    "azure_openai_entra": ("authorization", f"Bearer {ENTRA_TOKEN}"),
    "deepseek": ("authorization", "Bearer {secret}"),
    "xai": ("authorization", "Bearer {secret}"),
    "fireworks": ("authorization", "Bearer {secret}"),
    "openrouter": ("authorization", "Bearer {secret}"),
    "perplexity": ("authorization", "Bearer {secret}"),
    "cerebras": ("authorization", "Bearer {secret}"),
    "ollama": ("authorization", "Bearer {secret}"),
    "vllm": ("authorization", "Bearer {secret}"),
    "lmstudio": ("authorization", "Bearer {secret}"),
}
API_KEY_HEADER = ("x-goog-api-key", "{secret}")
REQUIRED_HEADERS: dict[str, dict[str, str]] = {"anthropic": {"anthropic-version": "2023-06-01"}}
# Vendors that take no stream_options: their streams carry the usage unasked.
NO_STREAM_OPTIONS = frozenset({"perplexity"})
REQUIRED_QUERY: dict[str, dict[str, str]] = {
    "azure_openai": {"api-version": AZURE_API_VERSION},
    "azure_openai_entra": {"api-version": AZURE_API_VERSION},
}


def check_credential(
    provider: str, received: ReceivedRequest, secret: str, gateway_key: str, presented: tuple[str, str] | None = None
) -> None:
    """``presented``: the header and template of this instance's credential, when not the type's own."""
    header, template = presented or CREDENTIAL_HEADER[provider]
    assert received.headers.get(header) == template.format(secret=secret)
    for name, value in REQUIRED_HEADERS.get(provider, {}).items():
        assert received.headers.get(name) == value
    for name, value in REQUIRED_QUERY.get(provider, {}).items():
        assert received.query.get(name) == value, "the query parameters the vendor needs"
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


@asynccontextmanager
async def upstream_credential(provider: str, key: str) -> AsyncIterator[tuple[str, tuple[str, ...]]]:
    """The secret the suites store for ``provider``, and every text of it that must never leak.

    Mostly the key itself. For a type that trades a structured secret for a token (Azure OpenAI with
    Entra ID), a client-credentials secret whose authority is a replay server answering Entra's
    documented token: it must be asked exactly once per case (the token is kept), as Entra documents.
    """
    if provider != "azure_openai_entra":
        yield key, (key,)
        return
    token_url = f"https://login.microsoftonline.com/{ENTRA_TENANT}/oauth2/v2.0/token"
    answer = RecordedResponse(200, ENTRA_TOKEN_ANSWER.read_bytes(), {"content-type": "application/json"})
    async with replay_upstream([Interaction(RecordedRequest("POST", token_url), answer)]) as login:
        secret = json.dumps({
            "tenant_id": ENTRA_TENANT, "client_id": ENTRA_CLIENT, "client_secret": key, "authority": login.base_url,
        })
        yield secret, (secret, key, ENTRA_TOKEN)  # the token is the service's own: never shown either
    (asked,) = login.received
    assert isinstance(asked.body, bytes) and asked.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(asked.body.decode()) == {
        "grant_type": ["client_credentials"], "client_id": [ENTRA_CLIENT], "client_secret": [key],
        "scope": ["https://cognitiveservices.azure.com/.default"],
    }
