"""What every capability's conformance suite checks of a provider type, whatever it was asked to do:
how it presents its credential upstream, the headers and query parameters it must always send, and
which types a capability's suite must cover.

Spelled out here rather than read from the specs, so that a wrong spec fails the suites instead of
passing them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

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
    "mistral": ("authorization", "Bearer {secret}"),
    "huggingface": ("authorization", "Bearer {secret}"),
    "tgi": ("authorization", "Bearer {secret}"),
    "replicate": ("authorization", "Bearer {secret}"),
    "elevenlabs": ("xi-api-key", "{secret}"),
    "google_tts": ("x-goog-api-key", "{secret}"),
    "azure_tts": ("ocp-apim-subscription-key", "{secret}"),
    "deepgram": ("authorization", "Token {secret}"),
    "cartesia": ("x-api-key", "{secret}"),
    "google_stt": ("x-goog-api-key", "{secret}"),
    "azure_stt": ("ocp-apim-subscription-key", "{secret}"),
    "assemblyai": ("authorization", "{secret}"),
}
API_KEY_HEADER = ("x-goog-api-key", "{secret}")
REQUIRED_HEADERS: dict[str, dict[str, str]] = {
    "anthropic": {"anthropic-version": "2023-06-01"},
    "cartesia": {"cartesia-version": "2024-11-13"},
}
# Vendors that take no stream_options: their streams carry the usage unasked.
NO_STREAM_OPTIONS = frozenset({"perplexity"})
REQUIRED_QUERY: dict[str, dict[str, str]] = {
    "azure_openai": {"api-version": AZURE_API_VERSION},
    "azure_openai_entra": {"api-version": AZURE_API_VERSION},
}
# Azure's v1 API (its Responses endpoint) takes no api-version.
WITHOUT_QUERY = frozenset({Capability.RESPONSES})

# Providers that sign each request with their secret instead of sending it: (service, region) of AWS SigV4.
SIGV4: dict[str, tuple[str, str]] = {"bedrock": ("bedrock", "us-east-1"), "bedrock_agent": ("bedrock", "us-west-2")}


def conformance_secret(provider: str) -> str:
    """A fresh secret of the shape the provider's auth takes (a JSON access key pair for SigV4)."""
    token = uuid.uuid4().hex
    if provider in SIGV4:
        return orjson.dumps({
            "access_key_id": f"AKIDCONFORMANCE{token[:8].upper()}",
            "secret_access_key": f"conformance-{provider}-{token}",
            "session_token": f"conformance-session-{token}",
        }).decode()
    return f"conformance-{provider}-{token}"


def secret_values(secret: str) -> list[str]:
    """What must appear in no answer and no log line: the secret, and each part of a structured one."""
    if "secret_access_key" not in secret:
        return [secret]
    parts = orjson.loads(secret)
    return [secret, parts["secret_access_key"], parts["session_token"]]


def check_credential(
    provider: str,
    received: ReceivedRequest,
    secret: str,
    gateway_key: str,
    presented: tuple[str, str] | None = None,
    capability: Capability = Capability.CHAT,
) -> None:
    """``presented``: the header and template of this instance's credential, when not the type's own."""
    if provider in SIGV4:
        check_sigv4(received, secret, *SIGV4[provider])
        _check_no_gateway_key(received, gateway_key)
        return
    header, template = presented or CREDENTIAL_HEADER[provider]
    assert received.headers.get(header) == template.format(secret=secret)
    for name, value in REQUIRED_HEADERS.get(provider, {}).items():
        assert received.headers.get(name) == value
    for name, value in ({} if capability in WITHOUT_QUERY else REQUIRED_QUERY.get(provider, {})).items():
        assert received.query.get(name) == value, "the query parameters the vendor needs"
    if header != "authorization":
        assert "authorization" not in received.headers, "no Authorization header besides the vendor's own"
    _check_no_gateway_key(received, gateway_key)


def _check_no_gateway_key(received: ReceivedRequest, gateway_key: str) -> None:
    assert not [value for value in received.headers.values() if gateway_key in value], (
        "the caller's gateway key must not reach the upstream"
    )


_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def check_sigv4(received: ReceivedRequest, secret: str, service: str, region: str) -> None:
    """The request as the upstream received it carries a SigV4 signature that botocore, signing that very
    request (path as sent, signed headers, body) with the secret's keys, computes too."""
    keys = orjson.loads(secret)
    found = _AUTHORIZATION.fullmatch(received.headers.get("authorization", ""))
    assert found is not None, f"not a SigV4 Authorization header: {received.headers.get('authorization')!r}"
    assert (found["key"], found["region"], found["service"]) == (keys["access_key_id"], region, service)
    signed = found["signed"].split(";")
    assert {"host", "x-amz-date", "content-type", "x-amz-security-token"} <= set(signed)
    assert received.headers["x-amz-security-token"] == keys["session_token"]
    query = f"?{received.query_string}" if received.query_string else ""
    url = f"http://{received.headers['host']}{received.path}{query}"
    request = AWSRequest(method=received.method, url=url, data=received.raw,
                         headers={name: received.headers[name] for name in signed})
    request.context["timestamp"] = received.headers["x-amz-date"]
    assert found["date"] == request.context["timestamp"][:8]
    signer = SigV4Auth(Credentials(keys["access_key_id"], keys["secret_access_key"], keys["session_token"]),
                       service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert found["signature"] == expected, "the signature covers the request exactly as it was received"
    assert keys["secret_access_key"] not in str(received.headers), "the secret key itself is never sent"


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
    assert declared <= CREDENTIAL_HEADER.keys() | SIGV4.keys(), "say how each provider sends its credential"


@asynccontextmanager
async def upstream_credential(provider: str, key: str) -> AsyncIterator[tuple[str, tuple[str, ...]]]:
    """The secret the suites store for ``provider``, and every text of it that must never leak.

    Mostly the key itself; for AWS, an access key pair that signs instead. For a type that trades a
    structured secret for a token (Azure OpenAI with Entra ID), a client-credentials secret whose
    authority is a replay server answering Entra's documented token: it must be asked exactly once per
    case (the token is kept), as Entra documents.
    """
    if provider in SIGV4:
        secret = conformance_secret(provider)
        yield secret, tuple(secret_values(secret))
        return
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
