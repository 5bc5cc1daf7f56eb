"""Embeddings conformance: every provider type that declares embeddings, replayed offline through the
running gateway with the official ``openai`` SDK's ``embeddings.create``.

Each success case is called three ways (``encoding_format`` float, base64, and left to the SDK, which
asks base64 and decodes it), each answered by the recording; the suite checks what the upstream
received (method, path, query, the credential in the provider's header, the body) and what the client
got (every vector exactly as recorded, dimensions, usage, model, the estimate flag), errors as the SDK's
own exceptions, and that the credential appears in no answer and no log line. A provider type that
declares embeddings without a case fails the suite (and a recording no case replays fails
``test_replay.test_every_recording_is_replayed``).
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from tests.conformance.cases import Failure
from tests.conformance.embeddings_table import EMBED_CASES, EmbedCase, Vectors
from tests.conformance.harness import check_failure
from tests.conformance.providers import ENTRA_TOKEN, network_provider_types, upstream_credential
from tests.embeddings_data import answer_only, float32, recorded_vectors
from tests.gateway import run_gateway
from tests.recorded import Interaction, RecordedRequest, load_cassette
from tests.replay_upstream import ReceivedRequest, replay_upstream

INSTANCE = "replayed"
KEY_ENV = "EMBEDDINGS_UPSTREAM_KEY"
ENCODINGS: tuple[str | None, ...] = ("float", "base64", None)  # None: the SDK's own choice (base64, decoded)

# How each provider type presents its credential (None: configured without one). Spelled out here
# rather than read from the specs, so a wrong spec fails the suite instead of passing it.
CREDENTIAL_HEADER: dict[str, tuple[str, str] | None] = {
    "openai": ("authorization", "Bearer {secret}"),
    "azure_openai": ("api-key", "{secret}"),
    "azure_openai_entra": ("authorization", f"Bearer {ENTRA_TOKEN}"),
    "cohere": ("authorization", "Bearer {secret}"),
    "voyage": ("authorization", "Bearer {secret}"),
    "jina": ("authorization", "Bearer {secret}"),
    "mistral": ("authorization", "Bearer {secret}"),
    "gemini": ("x-goog-api-key", "{secret}"),
    "ollama": None,
    "openai_compatible": ("authorization", "Bearer {secret}"),
    "together": ("authorization", "Bearer {secret}"),
}


def _base_url(case: EmbedCase) -> str:
    base = case.base_url or REGISTRY[case.provider].base_url
    assert base, f"{case.id}: give the vendor's base_url, {case.provider} has none"
    return base


def _endpoint_path(case: EmbedCase) -> str:
    endpoint = REGISTRY[case.provider].endpoints[Capability.EMBEDDINGS]
    return urlsplit(_base_url(case)).path.rstrip("/") + endpoint.path.replace("{model}", case.request["model"])


def _interaction(case: EmbedCase) -> Interaction:
    """The recorded answer, served on the endpoint's path (recordings of another path or none)."""
    uri = "http://replayed" + _endpoint_path(case)
    if case.path.suffix == ".json":
        return answer_only(case.path, uri)
    (recorded,) = load_cassette(case.path)
    return Interaction(RecordedRequest("POST", uri, recorded.request.body), recorded.response)


def _expected_body(case: EmbedCase, recorded: Interaction) -> dict[str, Any]:
    if case.sent is not None:
        return case.sent
    body = recorded.request.body
    assert isinstance(body, dict)
    assert set(case.unsent) <= body.keys(), "unsent names recorded fields"
    return {key: value for key, value in body.items() if value is not None and key not in case.unsent}


@pytest.mark.parametrize("case", EMBED_CASES, ids=lambda case: case.id)
async def test_replay(case: EmbedCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = _interaction(case)
    calls = len(ENCODINGS) if isinstance(case.outcome, Vectors) else 1
    key = f"embeddings-{case.provider}-{uuid.uuid4().hex}"
    answers: list[str] = []
    async with (
        replay_upstream([recorded] * calls * case.upstream_calls) as upstream,
        upstream_credential(case.provider, key) as (secret, texts),
    ):
        monkeypatch.setenv(KEY_ENV, secret)
        instance: dict[str, Any] = {"type": case.provider, "base_url": upstream.rebase(_base_url(case))}
        if CREDENTIAL_HEADER[case.provider] is not None:
            instance["credential"] = f"env:{KEY_ENV}"
        with run_gateway(tmp_path, {"providers": {INSTANCE: instance}}) as gateway:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as client:
                for encoding in ENCODINGS[:calls]:
                    answers += await _call_and_check(client, case, recorded, encoding)
            logs = gateway.logs.lines()
        assert not upstream.unexpected and not upstream.remaining
        assert len(upstream.received) == calls * case.upstream_calls
        for received in upstream.received:
            _check_upstream(case, recorded, received, secret, gateway.admin_key)
    assert sum("/v1/embeddings" in line for line in logs) >= calls, "one access line per call"
    leaks = [text for text in [*answers, *logs] if any(hidden in text for hidden in texts)]
    assert not leaks, f"the upstream credential leaked: {leaks[:3]}"


async def _call_and_check(
    client: openai.AsyncOpenAI, case: EmbedCase, recorded: Interaction, encoding: str | None
) -> list[str]:
    """One client call; returns every text the gateway answered with (for the leak check)."""
    request = dict(case.request)
    arguments: dict[str, Any] = {"model": f"{INSTANCE}/{request.pop('model')}", "input": request.pop("input")}
    if "dimensions" in request:
        arguments["dimensions"] = request.pop("dimensions")
    if encoding is not None:
        arguments["encoding_format"] = encoding
    if request:
        arguments["extra_body"] = request  # input_type: not an SDK argument
    try:
        raw = await client.embeddings.with_raw_response.create(**arguments)
    except openai.APIStatusError as error:
        assert isinstance(case.outcome, Failure), f"{case.id}: expected an answer, got {error!r}"
        check_failure(case.outcome, error, INSTANCE)
        if case.retry_after is not None:
            assert error.response.headers.get("retry-after") == case.retry_after
        return [error.response.text, *error.response.headers.values()]
    assert isinstance(case.outcome, Vectors), f"{case.id}: expected an error, got an answer"
    _check_vectors(case.outcome, raw.parse(), dict(raw.headers), recorded, encoding)
    return [raw.http_response.text, *raw.headers.values()]


def _check_vectors(
    expected: Vectors, answer: Any, headers: dict[str, str], recorded: Interaction, encoding: str | None
) -> None:
    vectors = recorded_vectors(recorded.response.json())
    assert len(vectors) == expected.count and {len(v) // 4 for v in vectors} == {expected.dimensions}
    assert [entry.index for entry in answer.data] == list(range(expected.count))
    got = [
        base64.b64decode(entry.embedding) if encoding == "base64" else float32(entry.embedding) for entry in answer.data
    ]
    assert got == vectors, "every vector exactly as the vendor sent it"
    assert answer.model == expected.model
    assert (answer.usage.prompt_tokens, answer.usage.total_tokens) == (expected.tokens, expected.tokens)
    assert (headers.get("x-usage-estimated") == "true") is expected.estimated


def _check_upstream(
    case: EmbedCase, recorded: Interaction, received: ReceivedRequest, secret: str, gateway_key: str
) -> None:
    endpoint = REGISTRY[case.provider].endpoints[Capability.EMBEDDINGS]
    assert (received.method, received.path) == ("POST", _endpoint_path(case))
    assert dict(received.query) == dict(endpoint.query)
    assert received.body == _expected_body(case, recorded)
    credential = CREDENTIAL_HEADER[case.provider]
    if credential is None:
        assert not {"authorization", "api-key", "x-api-key"} & received.headers.keys()
    else:
        header, template = credential
        assert received.headers.get(header) == template.format(secret=secret)
        if header != "authorization":
            assert "authorization" not in received.headers, "no Authorization header besides the vendor's own"
    assert not [value for value in received.headers.values() if gateway_key in value]


# -- coverage: a provider type without a case fails the suite -----------------------------------------


def test_every_embeddings_provider_has_a_case() -> None:
    declared = network_provider_types(Capability.EMBEDDINGS)
    covered = {case.provider for case in EMBED_CASES}
    assert covered <= REGISTRY.keys()
    missing = declared - covered
    assert not missing, f"provider types declaring embeddings without a conformance case: {sorted(missing)}"
    assert declared <= CREDENTIAL_HEADER.keys(), "say how each provider sends its credential"
