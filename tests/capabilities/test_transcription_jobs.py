"""A transcription that is a job (AssemblyAI: upload, submit, poll) through the running gateway, with
real speech (espeak-ng) and the official ``openai`` SDK: the transcript once the job completes, a job
that ends in error as the caller's 400 (not retried), and a deadline that passes while polling as a
504 with nothing left polling."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest
from tests.audio import audio_info, seconds, spoken
from tests.capabilities.assemblyai_upstream import ERROR, AssemblyAIUpstream, assemblyai_upstream
from tests.gateway import run_gateway

KEY_ENV = "AAI_TEST_KEY"
SECRET = "aai-test-0123456789abcdef"
TEXT = "The job is polled until it completes."


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


@pytest.fixture(scope="module")
def wav() -> bytes:
    return spoken(TEXT, "wav")


def _config(up: AssemblyAIUpstream) -> dict[str, object]:
    return {"providers": {"aai": {"type": "assemblyai", "base_url": up.base_url, "credential": f"env:{KEY_ENV}"}}}


def test_a_job_is_uploaded_submitted_and_polled_until_it_completes(tmp_path: Path, wav: bytes) -> None:
    with assemblyai_upstream(text=TEXT, polls_before_done=2) as up, run_gateway(tmp_path, _config(up)) as gateway:
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0)
        got = sdk.audio.transcriptions.create(
            file=("speech.wav", wav, "audio/wav"), model="aai/universal",
            response_format="verbose_json", timestamp_granularities=["word", "segment"],
        )
    assert got.text == TEXT
    assert got.duration == pytest.approx(seconds(audio_info(wav, "wav")), abs=0.01)
    assert [w.word for w in got.words or []] == TEXT.split()
    assert len(got.segments or []) == 1
    assert up.uploads == [wav], "the upload reaches the vendor byte for byte, once"
    (submitted,) = up.submitted
    assert submitted["speech_model"] == "universal" and submitted["language_detection"] is True
    assert submitted["audio_url"].endswith("/files/0")
    (polls,) = up.polls.values()
    assert len(polls) == 3, "processing twice, then completed"
    assert set(up.keys) == {SECRET}, "every request carries the key as AssemblyAI takes it"


def test_a_job_that_ends_in_error_is_the_callers_400(tmp_path: Path, wav: bytes) -> None:
    with assemblyai_upstream(mode="error", polls_before_done=1) as up, run_gateway(tmp_path, _config(up)) as gateway:
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0)
        with pytest.raises(openai.BadRequestError) as failed:
            sdk.audio.transcriptions.create(file=("speech.wav", wav, "audio/wav"), model="aai/universal")
    assert failed.value.status_code == 400
    assert isinstance(failed.value.body, dict) and failed.value.body["message"] == ERROR
    assert len(up.uploads) == 1 and len(up.submitted) == 1, "not retried: the same file would fail the same way"


def test_a_deadline_passing_while_polling_is_a_504_and_polling_stops(tmp_path: Path, wav: bytes) -> None:
    with assemblyai_upstream(text=TEXT, mode="running") as up, run_gateway(tmp_path, _config(up)) as gateway:
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0)
        with pytest.raises(openai.APIStatusError) as failed:
            sdk.audio.transcriptions.create(
                file=("speech.wav", wav, "audio/wav"), model="aai/universal", extra_headers={"x-timeout": "2"},
            )
        answered = time.monotonic()
        assert failed.value.status_code == 504
        # (a retry within the deadline may have submitted the file again: every job counts)
        polled = {job: list(times) for job, times in up.polls.items()}
        assert any(polled.values()) and all(t < answered for times in polled.values() for t in times), (
            "every poll came before the caller's answer"
        )
        # A later job, completed through the same gateway, takes longer than a given-up job's next poll
        # would have been due: those jobs are polled no more.
        up.mode, up.polls_before_done = "completed", 1
        done = sdk.audio.transcriptions.create(file=("speech.wav", wav, "audio/wav"), model="aai/universal")
        assert done.text == TEXT
    assert {job: up.polls[job] for job in polled} == polled, "nothing kept polling the jobs the deadline gave up on"
