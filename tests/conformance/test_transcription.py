"""Transcription conformance: every provider type that declares transcription, replayed offline through
the running gateway with the official ``openai`` SDK's ``audio.transcriptions.create(file=...)``.

For every case of ``transcription_table.TRANSCRIPTION_CASES``: a replay server answers with the recorded
(or documented) answer, the whole service runs with one provider instance of the case's type pointed
at it, and the SDK uploads real speech (espeak-ng). The suite checks what the vendor received (path,
query, the credential in the provider's header, the multipart form's fields and its file, or the raw
audio body, byte for byte) and what the caller got: OpenAI's verbose JSON read from the vendor's
answer (text, language, duration, segments, words with times), or the vendor's failure as the SDK's
own exception; the call's usage in audio seconds; and that the credential leaks nowhere.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from tests.audio import audio_info, seconds, spoken
from tests.conformance.harness import check_failure
from tests.conformance.providers import check_covered, check_credential, network_provider_types
from tests.conformance.transcription_table import AUDIO, TRANSCRIPTION_CASES, TranscriptionCase
from tests.gateway import RunningGateway, run_gateway
from tests.recorded import Interaction, RecordedRequest
from tests.replay_upstream import ReceivedRequest, replay_upstream

INSTANCE = "replayed"
KEY_ENV = "CONFORMANCE_STT_KEY"
SAID = "Conformance of speech to text."


async def _usage_seconds(gateway: RunningGateway) -> float:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = await gateway.services.usage_queries.list_usage(gateway.services.default_project_id, limit=10)
        if rows:
            return float(rows[0].audio_seconds)
        await asyncio.sleep(0.05)
    raise AssertionError("no usage record")


def _form(received: ReceivedRequest) -> tuple[dict[str, list[str]], list[Message]]:
    head = f"Content-Type: {received.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + received.raw)
    fields: dict[str, list[str]] = {}
    files = []
    for part in message.iter_parts():
        assert isinstance(part, Message)
        if part.get_filename() is not None:
            files.append(part)
        else:
            name = str(part.get_param("name", header="content-disposition"))
            fields.setdefault(name, []).append(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
    return fields, files


@pytest.mark.parametrize("case", TRANSCRIPTION_CASES, ids=[case.id for case in TRANSCRIPTION_CASES])
async def test_transcription_replay(case: TranscriptionCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = case.base_url or REGISTRY[case.provider].base_url
    assert base is not None, f"give the vendor's base_url, {case.provider} has none"
    wav = spoken(SAID, "wav")
    interactions = [Interaction(RecordedRequest("POST", base + case.path), case.response())]
    interactions += [
        Interaction(RecordedRequest(step.method, base + step.path), case.response(step.answer)) for step in case.then
    ]
    secret = f"conformance-{case.provider}-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, secret)
    async with replay_upstream(interactions) as upstream:
        config = {"providers": {INSTANCE: {
            "type": case.provider, "base_url": upstream.rebase(base), "credential": f"env:{KEY_ENV}",
        }}}
        with run_gateway(tmp_path, config) as gateway:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as client:
                arguments: dict[str, Any] = {**case.request, "model": f"{INSTANCE}/{case.request['model']}"}
                seen: list[str] = []
                try:
                    raw = await client.audio.transcriptions.with_raw_response.create(
                        file=("speech.wav", wav, "audio/wav"), **arguments
                    )
                    got = raw.parse()
                    seen = [raw.http_response.text, *raw.headers.values()]
                    error = None
                except openai.APIStatusError as failed:
                    error = failed
                    seen = [failed.message, str(failed.body), *failed.response.headers.values()]
                audio_seconds = gateway.call(_usage_seconds(gateway)) if error is None else None
            logs = gateway.logs.lines()
        assert not upstream.unexpected and not upstream.remaining
    first, *following = upstream.received
    _check_received(case, first, base, wav)
    assert len(following) == len(case.then), "a job's requests, each once"
    for step, received in zip(case.then, following, strict=True):
        assert (received.method, received.path) == (step.method, urlsplit(base).path + step.path)
        assert step.body is None or received.body == step.body
    for received in upstream.received:
        check_credential(case.provider, received, secret, gateway.admin_key, capability=Capability.TRANSCRIPTION)
    leaks = [text for text in [*seen, *logs] if secret in text]
    assert not leaks, f"the upstream credential leaked: {leaks[:3]}"
    if case.failure is not None:
        assert error is not None, "the vendor's failure reaches the caller"
        check_failure(case.failure, error, INSTANCE)
        return
    assert error is None, error
    expected = case.expected
    assert expected is not None
    own = seconds(audio_info(wav, "wav"))
    if case.request.get("response_format") == "text":
        assert got == expected.text + "\n"
    else:
        verbose = got
        assert verbose.text == expected.text
        assert verbose.language == expected.language
        assert verbose.duration == pytest.approx(expected.duration or own, abs=0.01)
        assert len(verbose.segments or []) == expected.segments
        assert len(verbose.words or []) == expected.words
        if expected.first_word is not None:
            first = (verbose.words or [])[0]
            assert (first.word, first.start, first.end) == expected.first_word
    assert audio_seconds == pytest.approx(expected.audio_seconds or own, abs=0.01)


def _check_received(case: TranscriptionCase, received: ReceivedRequest, base: str, wav: bytes) -> None:
    assert received.method == "POST"
    assert received.path == urlsplit(base).path + case.path
    assert dict(received.query) == case.query
    if case.body is not None:  # JSON around the audio in base64 (Google)
        assert received.headers["content-type"] == "application/json"
        assert isinstance(received.body, dict)
        assert base64.b64decode(received.body["content"]) == wav, "the upload reaches the vendor byte for byte"
        assert {**received.body, "content": AUDIO} == case.body
        return
    if case.form is None:  # the audio itself is the body
        assert received.headers["content-type"] == case.content_type
        assert received.raw == wav, "the upload reaches the vendor byte for byte"
        return
    fields, files = _form(received)
    assert fields == case.form
    (file,) = files
    assert file.get_filename() == "speech.wav" and file.get_content_type() == "audio/wav"
    assert file.get_payload(decode=True) == wav, "the upload reaches the vendor byte for byte"


def test_every_transcription_provider_has_a_case_with_success_and_failure() -> None:
    check_covered(Capability.TRANSCRIPTION, {case.provider for case in TRANSCRIPTION_CASES})
    for name in network_provider_types(Capability.TRANSCRIPTION):
        cases = [case for case in TRANSCRIPTION_CASES if case.provider == name]
        assert any(case.failure is None for case in cases), f"{name}: no success"
        assert any(case.failure is not None for case in cases) or name == "groq", f"{name}: no failure"


def test_case_ids_are_unique() -> None:
    assert len({case.id for case in TRANSCRIPTION_CASES}) == len(TRANSCRIPTION_CASES)
