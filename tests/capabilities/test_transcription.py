"""Transcription through the running gateway with real audio (espeak-ng speech, measured by sox),
uploaded by the official ``openai`` SDK unchanged: every response format, the upload arriving byte for
byte, failover, 413 past MAX_AUDIO_BYTES, DEFAULT_STT_PROVIDER, translations, metering in audio
seconds (priced, budgeted), the cache, dead letters and their replay."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.audio import audio_info, seconds, spoken
from tests.capabilities.test_embeddings import admin, usage_row
from tests.capabilities.transcription_upstream import TranscriptionUpstream, transcription_upstream
from tests.gateway import RunningGateway, run_gateway

KEY_ENV = "STT_TEST_KEY"
SECRET = "sk-stt-test-0123456789abcdef"
TEXT = "The gateway streams this file upstream. Nothing is held whole."


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """Real speech as a WAV file, and its duration as sox reads it."""
    wav = spoken(TEXT, "wav")
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    path.write_bytes(wav)
    return path, seconds(audio_info(wav, "wav"))


def provider(upstream: TranscriptionUpstream, kind: str = "openai") -> dict[str, Any]:
    return {"type": kind, "base_url": upstream.base_url, "credential": f"env:{KEY_ENV}"}


def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0)


def post_form(gateway: RunningGateway, path: str, audio: bytes, **fields: str) -> httpx.Response:
    files = {"file": ("speech.wav", audio, "audio/wav")}
    return httpx.post(gateway.v1 + path, data=fields, files=files, headers=gateway.headers(), timeout=30)


def test_every_response_format_through_the_official_sdk(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, duration = speech_file
    wav = path.read_bytes()
    with (
        transcription_upstream(text=TEXT) as up,
        run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway,
    ):
        sdk = client(gateway)
        with path.open("rb") as audio:
            plain = sdk.audio.transcriptions.create(model="up/whisper-1", file=audio)
        assert plain.text == TEXT
        with path.open("rb") as audio:
            verbose = sdk.audio.transcriptions.create(
                model="up/whisper-1",
                file=audio,
                response_format="verbose_json",
                timestamp_granularities=["word", "segment"],
            )
        assert verbose.text == TEXT and verbose.language == "english"
        assert verbose.duration == pytest.approx(duration, abs=0.01)
        assert [s.text for s in verbose.segments or []] == [
            "The gateway streams this file upstream.",
            "Nothing is held whole.",
        ]
        assert verbose.segments and verbose.segments[0].avg_logprob == -0.21  # the vendor's own, passed on
        assert [w.word for w in verbose.words or []] == [w.strip(".") for w in TEXT.split()]
        assert (verbose.words or [])[-1].end == pytest.approx(duration, abs=0.01)
        with path.open("rb") as audio:
            text = sdk.audio.transcriptions.create(model="up/whisper-1", file=audio, response_format="text")
        assert text == TEXT + "\n"
        with path.open("rb") as audio:
            srt = sdk.audio.transcriptions.create(model="up/whisper-1", file=audio, response_format="srt")
        cues = re.findall(r"(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+)\n", srt)
        assert [c[0] for c in cues] == ["1", "2"] and cues[0][1] == "00:00:00,000"
        assert cues[1][3] == "Nothing is held whole."
        with path.open("rb") as audio:
            vtt = sdk.audio.transcriptions.create(model="up/whisper-1", file=audio, response_format="vtt")
        assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ")
        assert vtt.rstrip().endswith("Nothing is held whole.")
        ids = []
        with path.open("rb") as audio:
            raw = sdk.audio.transcriptions.with_raw_response.create(model="up/whisper-1", file=audio)
            ids.append(raw.headers["x-request-id"])
        row = usage_row(gateway, ids[0])
    # What the vendor received: the file byte for byte, the credential, the form asked in its richest shape.
    assert {r.sha256 for r in up.received} == {hashlib.sha256(wav).hexdigest()}
    assert all(r.filename == "speech.wav" and r.headers["authorization"] == f"Bearer {SECRET}" for r in up.received)
    assert up.received[0].fields == {"model": ["whisper-1"], "response_format": ["verbose_json"]}
    assert up.received[1].fields["timestamp_granularities[]"] == ["segment", "word"]
    assert "timestamp_granularities[]" not in up.received[3].fields  # srt: segments, Whisper's default
    assert (row["capability"], row["status"], row["provider"], row["model"]) == (
        "transcription",
        "success",
        "up",
        "whisper-1",
    )
    # The vendor's billed seconds (rounded up, as OpenAI's usage says), priced by genai-prices at 0.006 USD a minute.
    billed = float(-(-duration // 1))
    assert row["audio_seconds"] == pytest.approx(billed)
    assert row["cost_usd"] == pytest.approx(billed * 0.006 / 60)


def test_the_vendor_answer_is_reachable_as_it_came(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, _ = speech_file
    with (
        transcription_upstream(text=TEXT) as up,
        run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway,
    ):
        answer = post_form(
            gateway, "/audio/transcriptions", path.read_bytes(), model="up/whisper-1", response_format="provider"
        )
    assert answer.status_code == 200, answer.text
    native = answer.json()
    assert (
        native["task"] == "transcribe" and native["segments"][0]["seek"] == 0 and native["usage"]["type"] == "duration"
    )


def test_failover_to_the_next_provider_sends_the_file_again(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, _ = speech_file
    wav = path.read_bytes()
    with transcription_upstream(mode="status", status=503) as bad, transcription_upstream(text=TEXT) as good:
        config = {
            "providers": {"bad": provider(bad), "good": provider(good, "groq")},
            "routes": {
                "stt": {
                    "targets": [
                        {"provider": "bad", "model": "whisper-1"},
                        {"provider": "good", "model": "whisper-large-v3"},
                    ]
                }
            },
        }
        with run_gateway(tmp_path, config) as gateway:
            with path.open("rb") as audio:
                raw = client(gateway).audio.transcriptions.with_raw_response.create(model="stt", file=audio)
            assert raw.parse().text == TEXT
            row = usage_row(gateway, raw.headers["x-request-id"])
    assert bad.calls == 2 and good.calls == 1  # retried once, then the next target
    digest = hashlib.sha256(wav).hexdigest()
    assert [r.sha256 for r in (*bad.received, *good.received)] == [digest] * 3, "every attempt sent the whole file"
    assert good.received[0].fields["model"] == ["whisper-large-v3"]
    assert (row["status"], row["provider"]) == ("success", "good")


def test_an_upload_past_max_audio_bytes_is_refused_with_413(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, _ = speech_file
    wav = path.read_bytes()
    limit = len(wav) // 2
    with (
        transcription_upstream(text=TEXT) as up,
        run_gateway(tmp_path, {"providers": {"up": provider(up)}}, max_audio_bytes=limit) as gateway,
    ):
        answer = post_form(gateway, "/audio/transcriptions", wav, model="up/whisper-1")
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "audio_too_large"

        # Sent without a length (chunked), the upload is refused once it passes the bound.
        def pieces() -> Any:
            boundary = "b0undary"
            yield f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nup/whisper-1\r\n'.encode()
            yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'.encode()
            for start in range(0, len(wav), 4096):
                yield wav[start : start + 4096]
            yield f"\r\n--{boundary}--\r\n".encode()

        chunked = httpx.post(
            gateway.v1 + "/audio/transcriptions",
            content=pieces(),
            headers={**gateway.headers(), "content-type": "multipart/form-data; boundary=b0undary"},
            timeout=30,
        )
        assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "audio_too_large"
        # Within the bound it goes through.
        small = post_form(gateway, "/audio/transcriptions", wav[:limit], model="up/whisper-1")
        assert small.status_code == 200, small.text
    assert up.calls == 1


def test_without_a_model_the_default_stt_provider_serves(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, _ = speech_file
    wav = path.read_bytes()
    with transcription_upstream(text=TEXT) as up:
        config = {"providers": {"voice-in": provider(up)}}
        with run_gateway(tmp_path / "set", config, default_stt_provider="voice-in") as gateway:
            answer = post_form(gateway, "/audio/transcriptions", wav)
            assert answer.status_code == 200, answer.text
            assert up.received[0].fields["model"] == ["whisper-1"]  # the instance's default model
        for setting, said in (("", "is not set"), ("nowhere", "names no provider instance or route")):
            with run_gateway(tmp_path / (setting or "unset"), config, default_stt_provider=setting) as gateway:
                refused = post_form(gateway, "/audio/transcriptions", wav)
                assert refused.status_code == 400
                error = refused.json()["error"]
                assert "DEFAULT_STT_PROVIDER" in error["message"] and said in error["message"]
                assert error["param"] == "model"
                # A request naming its model does not need the setting.
                assert post_form(gateway, "/audio/transcriptions", wav, model="voice-in/whisper-1").status_code == 200


def test_translations_go_only_where_translation_is_offered(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, _ = speech_file
    with transcription_upstream(text=TEXT) as up:
        # Deepgram transcribes but does not translate: the route's first target is passed over.
        config = {
            "providers": {"up": provider(up), "dg": provider(up, "deepgram")},
            "routes": {
                "english": {
                    "targets": [{"provider": "dg", "model": "nova-3"}, {"provider": "up", "model": "whisper-1"}]
                }
            },
        }
        with run_gateway(tmp_path, config) as gateway:
            with path.open("rb") as audio:
                english = client(gateway).audio.translations.create(
                    model="english", file=audio, response_format="verbose_json"
                )
            assert english.text == TEXT
            refused = post_form(gateway, "/audio/translations", path.read_bytes(), model="dg/nova-3")
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "capability_unsupported"
    assert [r.path for r in up.received] == ["/v1/audio/translations"]
    assert "language" not in up.received[0].fields


def test_bad_forms_are_refused_with_a_named_field(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, _ = speech_file
    with transcription_upstream(text=TEXT) as up, run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway:
        no_file = httpx.post(
            gateway.v1 + "/audio/transcriptions",
            data={"model": "up/whisper-1"},
            headers=gateway.headers(),
            files={"x": ("a", b"")},
        )
        assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
        bad_format = post_form(
            gateway, "/audio/transcriptions", path.read_bytes(), model="up/whisper-1", response_format="mp3"
        )
        assert bad_format.status_code == 400 and bad_format.json()["error"]["param"] == "response_format"
        json_body = httpx.post(
            gateway.v1 + "/audio/transcriptions", json={"model": "up/whisper-1"}, headers=gateway.headers()
        )
        assert json_body.status_code == 400
        model = b'--b0\r\nContent-Disposition: form-data; name="model"\r\n\r\nup/whisper-1\r\n'
        audio = b'--b0\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' + path.read_bytes()
        nested = b'--b0\r\nContent-Disposition: form-data; name="file"\r\nContent-Type: multipart/mixed\r\n\r\n'
        for content_type, body in [
            ("multipart/form-data; boundary=b0", model + audio),  # cut short: no closing boundary
            ("multipart/form-data", model + audio + b"\r\n--b0--\r\n"),  # no boundary declared
            ("multipart/form-data; boundary=b0", model + nested + b"x\r\n--b0--\r\n"),
        ]:
            headers = {**gateway.headers(), "content-type": content_type}
            refused = httpx.post(gateway.v1 + "/audio/transcriptions", content=body, headers=headers)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] == "validation_error"
            assert refused.json()["error"]["param"] == "file"
    assert up.calls == 0


# -- metering, budgets, cache, dead letters --------------------------------------------------------------


def test_audio_seconds_are_priced_per_provider_and_budgeted(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, duration = speech_file
    wav = path.read_bytes()
    # A vendor genai-prices lacks (Deepgram, ElevenLabs): priced in the file at 60 USD a minute.
    prices = {"up/*": {"per_audio_minute": 60}}
    with transcription_upstream(text=TEXT) as up:
        config: dict[str, Any] = {"providers": {"up": provider(up)}, "prices": prices}
        with run_gateway(tmp_path, config) as gateway:
            project = gateway.services.default_project_id
        billed = float(-(-duration // 1))
        config["budgets"] = {"projects": {project: {"usd": billed * 1.5}}}
        with run_gateway(tmp_path, config) as gateway:
            first = post_form(gateway, "/audio/transcriptions", wav, model="up/my-stt-model")
            assert first.status_code == 200, first.text
            row = usage_row(gateway, first.headers["x-request-id"])
            assert row["audio_seconds"] == pytest.approx(billed) and row["cost_usd"] == pytest.approx(billed)
            assert post_form(gateway, "/audio/transcriptions", wav, model="up/my-stt-model").status_code == 200
            over = post_form(gateway, "/audio/transcriptions", wav, model="up/my-stt-model")
            assert over.status_code == 402 and over.json()["error"]["code"] == "budget_exceeded"
    assert up.calls == 2


def test_cached_only_when_asked_and_keyed_by_the_audio(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, _ = speech_file
    wav = path.read_bytes()
    with transcription_upstream(text=TEXT) as up, run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway:
        files = {"file": ("speech.wav", wav, "audio/wav")}
        ask = {**gateway.headers(), "x-cache-ttl": "60"}
        url = gateway.v1 + "/audio/transcriptions"
        first = httpx.post(url, data={"model": "up/whisper-1"}, files=files, headers=ask, timeout=30)
        again = httpx.post(url, data={"model": "up/whisper-1"}, files=files, headers=ask, timeout=30)
        assert first.json() == again.json() and up.calls == 1
        assert usage_row(gateway, again.headers["x-request-id"])["cached"]
        other = {"file": ("speech.wav", wav[:-2000], "audio/wav")}
        assert httpx.post(url, data={"model": "up/whisper-1"}, files=other, headers=ask, timeout=30).status_code == 200
        assert up.calls == 2, "another file is another answer"
        post_form(gateway, "/audio/transcriptions", wav, model="up/whisper-1")
        assert up.calls == 3, "not cached unless asked"


def test_a_call_that_failed_everywhere_is_kept_and_replayed(tmp_path: Path, speech_file: tuple[Path, float]) -> None:
    path, _ = speech_file
    wav = path.read_bytes()
    with (
        transcription_upstream(text=TEXT, mode="status", status=503) as up,
        run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway,
    ):
        failed = post_form(gateway, "/audio/transcriptions", wav, model="up/whisper-1", language="en")
        assert failed.status_code == 502
        entry = _dead_letter(gateway, failed.headers["x-request-id"])
        assert entry["kind"] == "transcription" and entry["target"] == "up/whisper-1"
        up.mode = "ok"
        replayed = admin(gateway, "POST", f"/admin/dlq/{entry['id']}/replay").json()
    assert replayed["outcome"] == "success" and replayed["status"] == 200
    assert replayed["data"]["text"] == TEXT and replayed["data"]["task"] == "transcribe"
    assert up.received[-1].sha256 == hashlib.sha256(wav).hexdigest() and up.received[-1].fields["language"] == ["en"]


def _dead_letter(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for entry in admin(gateway, "GET", "/admin/dlq").json()["data"]:
            if entry["request_id"] == request_id:
                return dict(entry)
        time.sleep(0.05)
    raise AssertionError("no dead letter")


# -- memory ----------------------------------------------------------------------------------------------

UPLOAD_MB = 20


def _peak_rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])


def test_a_20_mb_upload_raises_rss_by_far_less_than_its_size(tmp_path: Path) -> None:
    """The upload is spooled to disk as it arrives and streamed upstream in pieces: the process's peak
    RSS (gateway, upstream and client share it here) grows by a few MB, not by the file's size."""
    size = UPLOAD_MB * 1024 * 1024
    piece = bytes(range(256)) * 256  # 64 KiB

    def form() -> Any:
        yield b'--b0undary\r\nContent-Disposition: form-data; name="model"\r\n\r\nup/whisper-1\r\n'
        yield b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
        for _ in range(size // len(piece)):
            yield piece
        yield b"\r\n--b0undary--\r\n"

    with transcription_upstream(text=TEXT) as up, run_gateway(tmp_path, {"providers": {"up": provider(up)}}) as gateway:
        headers = {**gateway.headers(), "content-type": "multipart/form-data; boundary=b0undary"}
        warm = httpx.post(gateway.v1 + "/audio/transcriptions", content=form(), headers=headers, timeout=60)
        assert warm.status_code == 200, warm.text  # pools, buffers and code paths are warm now
        Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from the current RSS
        before = _peak_rss_kib()
        answer = httpx.post(gateway.v1 + "/audio/transcriptions", content=form(), headers=headers, timeout=60)
        growth_mb = (_peak_rss_kib() - before) / 1024
        assert answer.status_code == 200, answer.text
    assert [r.size for r in up.received] == [size, size], "the whole file reached the upstream"
    print(f"peak RSS growth for a {UPLOAD_MB} MB upload: {growth_mb:.1f} MB")
    assert growth_mb < 2 * UPLOAD_MB
