"""The sandbox's transcription, through the running gateway with the official ``openai`` SDK: a
transcript that tells the audio's length (sox's measure of real espeak-ng speech), in every format,
for translations too; a form without a file is a 400."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
from tests.audio import audio_info, seconds, spoken
from tests.gateway import run_gateway

from api_connector.sandbox.transcription import transcription, wav_seconds


def test_whole_answers_through_the_gateway(tmp_path: Path) -> None:
    wav = spoken("The sandbox only measures what it hears.", "wav")
    measured = seconds(audio_info(wav, "wav"))
    path = tmp_path / "speech.wav"
    path.write_bytes(wav)
    with run_gateway(tmp_path) as gateway:
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=gateway.headers()["Authorization"].split()[1])
        with path.open("rb") as file:
            verbose = sdk.audio.transcriptions.create(
                model="sandbox/sandbox-stt",
                file=file,
                response_format="verbose_json",
                timestamp_granularities=["word", "segment"],
            )
        assert verbose.duration == pytest.approx(measured, abs=0.01)
        assert verbose.text == f"Sandbox transcript of {verbose.duration:.2f} seconds of audio."
        assert verbose.words and verbose.words[-1].end == pytest.approx(measured, abs=0.01)
        with path.open("rb") as file:
            subtitles = sdk.audio.transcriptions.create(model="sandbox/sandbox-stt", file=file, response_format="srt")
        assert "00:00:00,000 --> " in subtitles and verbose.text in subtitles
        with path.open("rb") as file:
            translated = sdk.audio.translations.create(model="sandbox/sandbox-stt", file=file)
        assert translated.text == verbose.text
        no_file = httpx.post(
            gateway.v1 + "/audio/transcriptions",
            data={"model": "sandbox/sandbox-stt"},
            files={"other": ("x.txt", b"x")},
            headers=gateway.headers(),
            timeout=30,
        )
        assert no_file.status_code == 400, no_file.text


def test_the_length_of_a_wav_file_and_an_estimate_for_the_rest() -> None:
    wav = spoken("one two three", "wav")
    assert wav_seconds(wav) == pytest.approx(seconds(audio_info(wav, "wav")), abs=0.01)  # sox says two decimals
    assert wav_seconds(b"ID3 not a wav file") is None
    boundary = "b0undary"
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n'
        f"Content-Type: audio/mpeg\r\n\r\n"
    ).encode() + b"\xff" * 32_000 + f"\r\n--{boundary}--\r\n".encode()
    status, answer = transcription(f"multipart/form-data; boundary={boundary}", form, translate=False)
    assert status == 200 and b"2.00 seconds" in answer
    assert transcription("application/json", b"{}", translate=False)[0] == 400
