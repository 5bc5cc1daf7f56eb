"""Speech through the running gateway with real audio (espeak-ng, sox): streamed as it is produced,
byte for byte; failover until the first byte, a cut body after it; audio never scrubbed; caching only
when asked; characters metered, priced, budgeted and limited; dead letters; DEFAULT_TTS_PROVIDER."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.audio import audio_info, seconds, spoken
from tests.capabilities.speech_upstream import SpeechUpstream, speech_upstream
from tests.capabilities.test_embeddings import admin, usage_row
from tests.gateway import RunningGateway, run_gateway

KEY_ENV = "SPEECH_TEST_KEY"
SECRET = "sk-speech-test-0123456789abcdef"
TEXT = "The gateway hands this sentence on while it is still being spoken."


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


def provider(upstream: SpeechUpstream, kind: str = "openai") -> dict[str, Any]:
    return {"type": kind, "base_url": upstream.base_url, "credential": f"env:{KEY_ENV}"}


def route(*targets: tuple[str, str]) -> dict[str, Any]:
    return {"targets": [{"provider": name, "model": model} for name, model in targets]}


def speak(gateway: RunningGateway, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(gateway.v1 + "/audio/speech", json=body, headers={**gateway.headers(), **headers}, timeout=30)


def wav_request(model: str = "up/tts-1", **fields: Any) -> dict[str, Any]:
    return {"model": model, "input": TEXT, "voice": "alloy", "response_format": "wav", **fields}


# -- streaming --------------------------------------------------------------------------------------


def test_first_audio_bytes_reach_the_client_before_the_upstream_wrote_its_last(tmp_path: Path) -> None:
    wav = spoken(TEXT, "wav")
    gate = threading.Event()
    with (
        speech_upstream(audio=wav, pieces=5, gate=gate) as up,
        run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway,
    ):
        chunks: list[bytes] = []
        first_before_last = None
        with httpx.stream(
            "POST", gateway.v1 + "/audio/speech", json=wav_request(), headers=gateway.headers(), timeout=30
        ) as answer:
            assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
            for chunk in answer.iter_raw():
                if first_before_last is None:
                    first_before_last = not up.last_piece_written
                    gate.set()  # only now may the upstream write its last piece
                chunks.append(chunk)
        assert first_before_last and not up.gate_timed_out, "the gateway held the audio back"
        audio = b"".join(chunks)
        assert audio == wav, "the audio arrives byte for byte"
        info = audio_info(audio, "wav")
        assert info["Sample Rate"] == "24000" and info["Channels"] == "1"
        assert seconds(info) == seconds(audio_info(wav, "wav")) > 1
        assert up.received == [{"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "wav"}]
        assert up.received_headers[0]["authorization"] == f"Bearer {SECRET}"
        row = usage_row(gateway, answer.headers["x-request-id"])
    assert (row["capability"], row["status"], row["provider"], row["model"]) == ("speech", "success", "up", "tts-1")
    assert row["characters"] == len(TEXT)
    # genai-prices: tts-1 is 15 USD a million characters.
    assert row["cost_usd"] == pytest.approx(len(TEXT) * 15 / 1e6)


def test_the_official_sdk_streams_mp3_to_a_file(tmp_path: Path) -> None:
    mp3 = spoken(TEXT, "mp3")
    with (
        speech_upstream(audio=mp3, content_type="audio/mpeg", pieces=3) as up,
        run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway,
    ):
        client = openai.OpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0)
        with client.audio.speech.with_streaming_response.create(model="up/tts-1-hd", voice="nova", input=TEXT) as got:
            assert got.headers["content-type"] == "audio/mpeg"
            got.stream_to_file(tmp_path / "speech.mp3")
        assert up.received[0] == {"model": "tts-1-hd", "input": TEXT, "voice": "nova", "response_format": "mp3"}
    assert (tmp_path / "speech.mp3").read_bytes() == mp3
    info = audio_info((tmp_path / "speech.mp3").read_bytes(), "mp3")
    assert info["Sample Rate"] == "24000" and "MPEG" in info["Sample Encoding"]


@pytest.mark.parametrize("failing", ["status", "empty"])
def test_a_failure_before_the_first_byte_fails_over(failing: str, tmp_path: Path) -> None:
    wav = spoken(TEXT, "wav")
    with speech_upstream(mode=failing, status=503) as bad, speech_upstream(audio=wav) as good:
        config = {
            "providers": {"bad": provider(bad), "good": provider(good)},
            "routes": {"voice": route(("bad", "tts-1"), ("good", "tts-1"))},
        }
        with run_gateway(tmp_path, config) as gateway:
            answer = speak(gateway, wav_request("voice"))
            assert answer.status_code == 200, answer.text
            assert answer.content == wav
            row = usage_row(gateway, answer.headers["x-request-id"])
    assert bad.calls == 2 and good.calls == 1  # the failing target retried once, then the next one
    assert row["status"] == "success" and row["provider"] == "good"


def test_a_break_after_the_first_byte_cuts_the_body_and_is_recorded_as_a_failure(tmp_path: Path) -> None:
    wav = spoken(TEXT, "wav")
    with speech_upstream(audio=wav, mode="cut") as cutting, speech_upstream(audio=wav) as spare:
        config = {
            "providers": {"cutting": provider(cutting), "spare": provider(spare)},
            "routes": {"voice": route(("cutting", "tts-1"), ("spare", "tts-1"))},
        }
        with run_gateway(tmp_path, config) as gateway:
            received = b""
            with (
                pytest.raises(httpx.RemoteProtocolError),
                httpx.stream(
                    "POST", gateway.v1 + "/audio/speech", json=wav_request("voice"), headers=gateway.headers()
                ) as answer,
            ):
                request_id = answer.headers["x-request-id"]
                for chunk in answer.iter_raw():
                    received += chunk
            row = usage_row(gateway, request_id)
    assert received and wav.startswith(received) and len(received) < len(wav)
    assert spare.calls == 0, "no failover once audio went out"
    assert (row["status"], row["error_code"], row["provider"]) == ("error", "protocol_error", "cutting")


# -- secrets ----------------------------------------------------------------------------------------


def test_audio_is_never_scrubbed_while_error_answers_are(tmp_path: Path) -> None:
    # Audio whose bytes happen to hold the credential: it must arrive unchanged all the same.
    audio = spoken(TEXT, "wav")
    audio = audio[:1000] + SECRET.encode() + audio[1000:]
    with (
        speech_upstream(audio=audio, headers={"x-echo": SECRET}) as up,
        speech_upstream(mode="status", status=400, error_body=_openai_error(f"bad key {SECRET}")) as failing,
    ):
        config = {"providers": {"up": provider(up), "failing": provider(failing)}}
        with run_gateway(tmp_path, config) as gateway:
            answer = speak(gateway, wav_request())
            refused = speak(gateway, wav_request("failing/tts-1"))
            logs = gateway.logs.lines()
    assert answer.status_code == 200 and answer.content == audio
    assert not [value for value in answer.headers.values() if SECRET in value], "upstream headers stay upstream"
    assert refused.status_code == 400
    assert SECRET not in refused.text and "[REDACTED]" in refused.json()["error"]["message"]
    assert not [line for line in logs if SECRET in line]


def _openai_error(message: str) -> bytes:
    return f'{{"error": {{"message": "{message}", "type": "invalid_request_error", "code": null}}}}'.encode()


# -- cache ------------------------------------------------------------------------------------------


def test_audio_is_cached_only_when_asked_and_only_within_the_entry_bound(tmp_path: Path) -> None:
    wav = spoken(TEXT, "wav")
    with speech_upstream(audio=wav) as up:
        with run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway:
            assert speak(gateway, wav_request()).content == wav
            assert speak(gateway, wav_request()).content == wav
            assert up.calls == 2, "not cached without being asked"
            first = speak(gateway, wav_request(), **{"x-cache-ttl": "60"})
            again = speak(gateway, wav_request(), **{"x-cache-ttl": "60"})
            assert up.calls == 3 and again.headers.get("x-cache") == "hit"
            assert again.content == wav == first.content and again.headers["content-type"] == "audio/wav"
            row = usage_row(gateway, again.headers["x-request-id"])
            assert row["cached"] and row["characters"] == len(TEXT) and row["cost_usd"] in (0, None)
        # An answer larger than the cache's entry bound is never kept.
        config = {"providers": {"up": provider(up)}, "cache": {"max_entry_bytes": 4096}}
        with run_gateway(tmp_path / "small", config) as gateway:
            for _ in range(2):
                assert speak(gateway, wav_request(), **{"x-cache-ttl": "60"}).content == wav
            assert up.calls == 5


# -- metering, prices, budgets, limits ------------------------------------------------------------------


def test_characters_are_priced_per_provider_budgeted_and_limited(tmp_path: Path) -> None:
    wav = spoken("Hi", "wav")
    # One provider instance's every model at a dollar a character (a vendor priced per provider).
    prices = {"up/*": {"per_million_characters": 1_000_000}}
    with speech_upstream(audio=wav) as up:
        config: dict[str, Any] = {"providers": {"up": provider(up)}, "prices": prices}
        with run_gateway(tmp_path, config) as gateway:
            project = gateway.services.default_project_id
        config["budgets"] = {"projects": {project: {"usd": 12}}}
        body = {"model": "up/my-voice-model", "input": "ten chars.", "voice": "alloy", "response_format": "wav"}
        with run_gateway(tmp_path, config) as gateway:
            first = speak(gateway, body)
            assert first.status_code == 200
            row = usage_row(gateway, first.headers["x-request-id"])
            assert row["characters"] == 10 and row["cost_usd"] == pytest.approx(10.0)
            assert speak(gateway, body).status_code == 200  # 20 USD now: over the budget of 12
            over = speak(gateway, body)
            assert over.status_code == 402 and over.json()["error"]["code"] == "budget_exceeded"
        assert up.calls == 2
        limited_config = {"providers": {"up": provider(up)}, "limits": {"default_key": {"requests_per_minute": 1}}}
        with run_gateway(tmp_path / "limited", limited_config) as gateway:
            assert speak(gateway, body).status_code == 200
            limited = speak(gateway, body)
            assert limited.status_code == 429 and "retry-after" in limited.headers
    assert up.calls == 3


# -- dead letters -------------------------------------------------------------------------------------


def test_a_call_that_failed_everywhere_is_kept_and_replayed_whole(tmp_path: Path) -> None:
    wav = spoken(TEXT, "wav")
    with (
        speech_upstream(audio=wav, mode="status", status=503) as up,
        run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway,
    ):
        failed = speak(gateway, wav_request())
        assert failed.status_code == 502
        entry = _dead_letter(gateway, failed.headers["x-request-id"])
        assert entry["kind"] == "speech" and entry["target"] == "up/tts-1"
        up.mode = "ok"
        replayed = admin(gateway, "POST", f"/admin/dlq/{entry['id']}/replay").json()
    assert replayed["outcome"] == "success" and replayed["status"] == 200
    assert replayed["data"]["content_type"] == "audio/wav" and replayed["data"]["bytes"] == len(wav)
    assert base64.b64decode(replayed["data"]["audio"]) == wav


def _dead_letter(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for entry in admin(gateway, "GET", "/admin/dlq").json()["data"]:
            if entry["request_id"] == request_id:
                return dict(entry)
        time.sleep(0.05)
    raise AssertionError("no dead letter")


# -- the default provider and what a vendor cannot do -------------------------------------------------


def test_default_tts_provider_is_needed_only_by_a_request_without_a_model(tmp_path: Path) -> None:
    wav = spoken("Hi", "wav")
    body = {"input": "Hi", "voice": "alloy", "response_format": "wav"}
    with speech_upstream(audio=wav) as up:
        config = {"providers": {"up": provider(up)}, "routes": {"voice": route(("up", "tts-1-hd"))}}
        for setting, expected in (("", "is not set"), ("nowhere", "('nowhere') names no provider")):
            # The service starts and serves with the setting unset or wrong; only such a request fails.
            with run_gateway(tmp_path / (setting or "unset"), config, default_tts_provider=setting) as gateway:
                refused = speak(gateway, body)
                assert refused.status_code == 400 and refused.json()["error"]["param"] == "model"
                assert "DEFAULT_TTS_PROVIDER" in refused.json()["error"]["message"]
                assert expected in refused.json()["error"]["message"]
                assert speak(gateway, {**body, "model": "up/tts-1"}).status_code == 200
        # An instance: its default speech model; a route: the route.
        for setting, model in (("up", "gpt-4o-mini-tts"), ("voice", "tts-1-hd")):
            with run_gateway(tmp_path / setting, config, default_tts_provider=setting) as gateway:
                assert speak(gateway, body).content == wav
                assert up.received[-1]["model"] == model
        with run_gateway(tmp_path / "sandbox", default_tts_provider="sandbox") as gateway:
            answer = speak(gateway, body)
            assert answer.status_code == 200 and answer.content.startswith(b"RIFF")
            assert audio_info(answer.content, "wav")["Sample Rate"] == "24000"


def test_a_format_the_vendor_lacks_is_refused_naming_it_or_passed_to_a_target_that_has_it(tmp_path: Path) -> None:
    flac = spoken(TEXT, "flac")
    with speech_upstream(audio=flac, content_type="audio/flac") as up:
        config = {
            "providers": {"eleven": provider(up, "elevenlabs"), "up": provider(up)},
            "routes": {"voice": route(("eleven", "eleven_multilingual_v2"), ("up", "tts-1"))},
        }
        with run_gateway(tmp_path, config) as gateway:
            body = {"model": "eleven", "input": TEXT, "voice": "JBFqnCBsd6RMkjVDRZzb", "response_format": "flac"}
            refused = speak(gateway, body)
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["code"] == "validation_error" and error["param"] == "response_format"
            assert "ElevenLabs cannot produce flac" in error["message"]
            served = speak(gateway, {**body, "model": "voice"})
            assert served.status_code == 200 and served.content == flac
            assert served.headers["content-type"] == "audio/flac"
    assert up.calls == 1  # ElevenLabs was never sent what it cannot do
