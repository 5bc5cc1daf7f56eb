"""What every capability's conformance suite checks of a provider type, whatever it was asked to do:
how it presents its credential upstream, the headers it must always send, and which types a
capability's suite must cover.

Spelled out here rather than read from the specs, so that a wrong spec fails the suites instead of
passing them.
"""

from __future__ import annotations

import re
import uuid

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

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
}
REQUIRED_HEADERS: dict[str, dict[str, str]] = {"anthropic": {"anthropic-version": "2023-06-01"}}
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
    if not secret.startswith("{"):
        return [secret]
    parts = orjson.loads(secret)
    return [secret, parts["secret_access_key"], parts["session_token"]]


def check_credential(provider: str, received: ReceivedRequest, secret: str, gateway_key: str) -> None:
    if provider in SIGV4:
        check_sigv4(received, secret, *SIGV4[provider])
        _check_no_gateway_key(received, gateway_key)
        return
    header, template = CREDENTIAL_HEADER[provider]
    assert received.headers.get(header) == template.format(secret=secret)
    for name, value in REQUIRED_HEADERS.get(provider, {}).items():
        assert received.headers.get(name) == value
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
    url = f"http://{received.headers['host']}{received.path}" + (f"?{received.query}" if received.query else "")
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
