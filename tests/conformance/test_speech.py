"""Speech conformance: every provider type that declares speech, replayed offline through the running
gateway with the official ``openai`` SDK's ``audio.speech.with_streaming_response.create``.

For every case of ``speech_table.SPEECH_CASES``: a replay server answers with the recorded (Deepgram) or
documented answer, the whole service runs with one provider instance of the case's type pointed at it,
and the SDK streams the answer to a file. The suite checks what the vendor received (method, path,
query, the credential in the provider's header, the vendor's required headers, the body, JSON or SSML)
and what the client got: the vendor's audio byte for byte with the format's content type (and ``sox``
reads it), or the vendor's failure as the SDK's own exception; the call's usage in characters; and
that the credential appears in no answer and no log line. The voices of each provider type come from
its declaration or its documented listing. A provider type that declares speech without a case fails.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from api_connector.core.capabilities import Capability
from api_connector.core.speech import CONTENT_TYPES, AudioFormat
from api_connector.providers import REGISTRY
from tests.audio import audio_info
from tests.conformance.harness import check_failure
from tests.conformance.providers import check_covered, check_credential, network_provider_types
from tests.conformance.speech_table import SPEECH_CASES, VOICES_CASES, SpeechCase, VoicesCase, voices_listing
from tests.gateway import RunningGateway, run_gateway
from tests.google_tokens import ServiceAccountKey, TokenEndpoint, token_endpoint
from tests.recorded import Interaction, RecordedRequest
from tests.replay_upstream import ReceivedRequest, replay_upstream

INSTANCE = "replayed"
KEY_ENV = "CONFORMANCE_SPEECH_KEY"


def _base_url(provider: str, given: str | None) -> str:
    base = given or REGISTRY[provider].base_url
    assert base, f"give the vendor's base_url, {provider} has none"
    return base


def _arguments(case: SpeechCase) -> dict[str, Any]:
    arguments = dict(case.request)
    model = arguments.pop("model")
    arguments["model"] = f"{INSTANCE}/{model}" if model else INSTANCE
    return arguments


async def _usage_characters(gateway: RunningGateway) -> int:
    """The characters of the call's usage record (written by the batch writer, shortly after)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = await gateway.services.usage_queries.list_usage(gateway.services.default_project_id, limit=10)
        if rows:
            return rows[0].characters
        await asyncio.sleep(0.05)
    raise AssertionError("no usage record")


@asynccontextmanager
async def _credential(case: SpeechCase) -> AsyncIterator[tuple[str, TokenEndpoint | None, ServiceAccountKey | None]]:
    """The instance's secret: a key, or a Google service account's key file with its token endpoint."""
    if case.credential == "key":
        yield f"conformance-{case.provider}-{uuid.uuid4().hex}", None, None
        return
    account = ServiceAccountKey.make("speech")
    async with token_endpoint(account) as tokens:
        yield account.json(tokens.url), tokens, account


@pytest.mark.parametrize("case", SPEECH_CASES, ids=[case.id for case in SPEECH_CASES])
async def test_speech_replay(case: SpeechCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = REGISTRY[case.provider]
    base = _base_url(case.provider, case.base_url)
    recorded = case.response()
    interaction = Interaction(RecordedRequest("POST", base + case.path), recorded)
    out = tmp_path / "speech.audio"
    async with _credential(case) as (secret, tokens, account), replay_upstream([interaction]) as upstream:
        monkeypatch.setenv(KEY_ENV, secret)
        config = {"providers": {INSTANCE: {
            "type": case.provider, "base_url": upstream.rebase(base), "credential": f"env:{KEY_ENV}",
        }}}
        with run_gateway(tmp_path, config) as gateway:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as client:
                seen: list[str] = []
                try:
                    async with client.audio.speech.with_streaming_response.create(**_arguments(case)) as answer:
                        seen = [answer.headers.get("content-type", ""), *answer.headers.values()]
                        await answer.stream_to_file(out)
                    error = None
                except openai.APIStatusError as failed:
                    error = failed
                    seen = [failed.message, str(failed.body), *failed.response.headers.values()]
                characters = gateway.call(_usage_characters(gateway)) if error is None else None
            logs = gateway.logs.lines()
        assert not upstream.unexpected and not upstream.remaining
    (received,) = upstream.received
    _check_received(case, received, base)
    hidden = [secret]
    if tokens is not None and account is not None:
        # The service account's key was traded once for a token, which is what the vendor was shown.
        (token,) = tokens.issued
        check_credential(case.provider, received, token, gateway.admin_key, ("authorization", "Bearer {secret}"))
        hidden = [account.key_material(), token]
    else:
        check_credential(case.provider, received, secret, gateway.admin_key)
    leaks = [text for text in [*seen, *logs] if any(part in text for part in hidden)]
    assert not leaks, f"the upstream credential leaked: {leaks[:3]}"
    if case.failure is not None:
        assert error is not None, "the vendor's failure reaches the caller"
        check_failure(case.failure, error, INSTANCE)
        return
    assert error is None, error
    fmt = AudioFormat(case.request.get("response_format", "mp3"))
    assert seen[0] == CONTENT_TYPES[fmt]
    assert out.read_bytes() == case.audio(), "the audio reaches the caller byte for byte"
    info = audio_info(out.read_bytes(), fmt.value)
    assert info["Sample Rate"] == "24000" and info["Channels"] == "1"
    assert characters == (case.characters or len(case.request["input"]))
    assert spec.endpoints[Capability.SPEECH].wire is not None


def _check_received(case: SpeechCase, received: ReceivedRequest, base: str) -> None:
    assert received.method == "POST"
    assert received.path == urlsplit(base).path + case.path
    assert {k: v for k, v in received.query.items() if k in case.query} == case.query
    assert set(received.query) == set(case.query), "no query parameter beyond the expected ones"
    for name, value in case.headers.items():
        assert received.headers.get(name) == value, name
    body = received.body
    if isinstance(case.body, str):
        assert isinstance(body, bytes) and body.decode("utf-8") == case.body
    else:
        assert body == case.body


@pytest.mark.parametrize("case", VOICES_CASES, ids=[case.provider for case in VOICES_CASES])
async def test_voices(case: VoicesCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = _base_url(case.provider, case.base_url)
    secret = f"voices-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, secret)
    interactions = []
    if case.listing is not None:
        assert case.path is not None
        interactions.append(Interaction(RecordedRequest("GET", base + case.path), voices_listing(case)))
    async with replay_upstream(interactions) as upstream:
        config = {"providers": {INSTANCE: {
            "type": case.provider, "base_url": upstream.rebase(base), "credential": f"env:{KEY_ENV}",
        }}}
        with run_gateway(tmp_path, config) as gateway:
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.get(
                    f"{gateway.base_url}/admin/providers/{INSTANCE}/voices", headers=gateway.headers()
                )
        assert not upstream.unexpected and not upstream.remaining
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert listed["provider"] == INSTANCE
    if case.listing is None:
        assert listed["source"] == "declared" and not upstream.received
        assert listed["data"][: len(case.expected)] == case.expected
        return
    assert listed["source"] == "provider" and listed["data"] == case.expected
    (received,) = upstream.received
    assert received.method == "GET" and received.path == urlsplit(base).path + case.path
    check_credential(case.provider, received, secret, gateway.admin_key)


def test_every_speech_provider_has_a_case() -> None:
    check_covered(Capability.SPEECH, {case.provider for case in SPEECH_CASES})
    assert {case.provider for case in VOICES_CASES} == network_provider_types(Capability.SPEECH)


def test_every_speech_wire_is_replayed_with_a_failure() -> None:
    """Each wire in use gets a success and, where its vendor documents one, a failure."""
    undocumented_failures = {"cartesia"}  # no error body is documented or recorded for Cartesia
    for name in network_provider_types(Capability.SPEECH):
        cases = [case for case in SPEECH_CASES if case.provider == name]
        assert any(case.failure is None for case in cases), f"{name}: no success"
        if name not in undocumented_failures:
            assert any(case.failure is not None for case in cases), f"{name}: no failure"


def test_case_ids_are_unique() -> None:
    assert len({case.id for case in SPEECH_CASES}) == len(SPEECH_CASES)
