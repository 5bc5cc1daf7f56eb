"""Live transcription through the running gateway to AssemblyAI's Universal-Streaming socket (a simulator
answering with its documented messages), with real speech (espeak-ng, measured by sox): interim then
final transcripts, the utterance's end, the session's end metered in the audio seconds AssemblyAI's
``Termination`` reports, no keep-alive sent while the caller is quiet, and a session failing over from
Deepgram (refusing its handshake) to AssemblyAI before the first transcript."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.audio import RATE, audio_info, seconds
from tests.capabilities.live_upstream import AAI, LiveUpstream, live_upstream
from tests.capabilities.test_embeddings import usage_row
from tests.capabilities.test_live_transcription import (
    FRAME,
    KEY_ENV,
    SECRET,
    audit_rows,
    messages_until_close,
    pcm,
    session,
    url,
)
from tests.gateway import run_gateway
from tests.waiting import wait_for

MODEL = "universal-streaming-english"
PRICE_PER_MINUTE = 0.0025
FINAL_TEXT = AAI["Turns"][-1]["transcript"]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


def config(*targets: tuple[str, str, LiveUpstream, str]) -> dict[str, Any]:
    """Targets in order: (instance, provider type, its simulator, model)."""
    return {
        "providers": {
            name: {"type": kind, "base_url": up.base_url, "credential": f"env:{KEY_ENV}"}
            for name, kind, up, _ in targets
        },
        "routes": {"live": {"targets": [{"provider": name, "model": model} for name, _, _, model in targets]}},
        "prices": {MODEL: {"per_audio_minute": PRICE_PER_MINUTE}},
    }


async def test_an_assemblyai_session_interim_then_final_metered_from_its_termination(tmp_path: Path) -> None:
    audio = pcm()
    with live_upstream() as up, run_gateway(tmp_path, config(("aai", "assemblyai", up, MODEL))) as gateway:
        got, code = await session(gateway, audio, utterance_end_ms="1000")
        assert code == 1000
        kinds = [m["type"] for m in got]
        assert kinds[0] == "metadata" and got[0]["provider_request_id"] == AAI["Begin"]["id"]  # its Begin
        assert kinds[-4:] == ["transcript", "utterance_end", "metadata", "session_end"], kinds
        transcripts = [m for m in got if m["type"] == "transcript"]
        interims, final = transcripts[:-1], transcripts[-1]
        assert interims and not any(m["is_final"] for m in interims)
        assert final["is_final"] and final["speech_final"] and final["text"] == FINAL_TEXT
        assert final["words"][0] == {"word": "Hi,", "start": 1.92, "end": 2.0, "confidence": 0.874618}
        assert got[-3] == {"type": "utterance_end", "last_word_end": 3.36, "channel": 0}

        # AssemblyAI heard the caller's audio as raw PCM, with its key as it is and the session's options.
        [heard] = up.sessions
        assert bytes(heard.audio) == audio
        assert heard.headers["authorization"] == SECRET
        assert heard.query == {
            "speech_model": MODEL,
            "sample_rate": str(RATE),
            "encoding": "pcm_s16le",
            "format_turns": "true",
            "max_turn_silence": "1000",
        }
        assert heard.controls == ["Terminate"]

        length = seconds(audio_info(audio, "pcm"))  # sox's measure of the real audio
        end = got[-1]
        assert got[-2]["duration"] == pytest.approx(length, abs=0.01)  # Termination's audio_duration_seconds
        assert (end["reason"], end["provider"], end["model"]) == ("closed", "aai", MODEL)
        assert end["audio_seconds"] == pytest.approx(length, abs=0.01)
        row = usage_row(gateway, end["request_id"])
        assert (row["capability"], row["status"], row["provider"]) == ("live_transcription", "success", "aai")
        assert row["audio_seconds"] == pytest.approx(length, abs=0.01)
        assert row["cost_usd"] == pytest.approx(row["audio_seconds"] / 60 * PRICE_PER_MINUTE)
        wait_for(lambda: bool(audit_rows(gateway, end["request_id"])), "the session's audit row")
        assert SECRET not in gateway.logs.getvalue()


async def test_a_quiet_caller_sends_assemblyai_nothing_and_finalize_forces_the_end_of_turn(tmp_path: Path) -> None:
    settings = {"live_keepalive_seconds": 0.05}
    with (
        live_upstream() as up,
        run_gateway(tmp_path, config(("aai", "assemblyai", up, MODEL)), **settings) as gateway,
    ):
        async with aiohttp.ClientSession() as client, client.ws_connect(url(gateway), headers=gateway.headers()) as ws:
            await ws.send_bytes(pcm()[:FRAME])
            await asyncio.to_thread(wait_for, lambda: bool(up.sessions), "the session at AssemblyAI")
            await asyncio.sleep(0.5)  # the caller is quiet for ten keep-alive intervals
            await ws.send_str('{"type": "finalize"}')
            await asyncio.to_thread(wait_for, lambda: "ForceEndpoint" in up.sessions[0].controls, "ForceEndpoint")
            await ws.send_str('{"type": "close"}')
            got = await messages_until_close(ws)
    assert up.sessions[0].controls == ["ForceEndpoint", "Terminate"], "no keep-alive: AssemblyAI needs none"
    finals = [m for m in got if m["type"] == "transcript" and m["is_final"]]
    assert [m["text"] for m in finals] == [FINAL_TEXT, FINAL_TEXT]  # the forced end of turn, then the close's
    assert got[-1]["type"] == "session_end" and ws.close_code == 1000


@pytest.mark.parametrize("failing", ["refuse", "fail_before"])
async def test_a_session_fails_over_between_vendors_before_the_first_transcript(
    failing: str, tmp_path: Path
) -> None:
    audio = pcm()
    with (
        live_upstream(mode=failing) as deepgram,
        live_upstream() as assemblyai,
        run_gateway(
            tmp_path, config(("dg", "deepgram", deepgram, "nova-3"), ("aai", "assemblyai", assemblyai, MODEL))
        ) as gateway,
    ):
        got, code = await session(gateway, audio)
        end = got[-1]
        row = usage_row(gateway, end["request_id"])
    assert deepgram.refused or deepgram.sessions, "Deepgram was tried first"
    assert code == 1000 and (end["provider"], end["model"]) == ("aai", MODEL)
    assert [m for m in got if m["type"] == "transcript"][-1]["text"] == FINAL_TEXT
    assert bytes(assemblyai.sessions[0].audio) == audio, "AssemblyAI hears the session from its start"
    assert (row["status"], row["provider"]) == ("success", "aai")
    assert row["audio_seconds"] == pytest.approx(seconds(audio_info(audio, "pcm")), abs=0.01)
    assert row["cost_usd"] == pytest.approx(row["audio_seconds"] / 60 * PRICE_PER_MINUTE)


async def test_a_refused_assemblyai_handshake_fails_over_to_deepgram(tmp_path: Path) -> None:
    with (
        live_upstream(mode="refuse", status=401) as assemblyai,
        live_upstream() as deepgram,
        run_gateway(
            tmp_path, config(("aai", "assemblyai", assemblyai, MODEL), ("dg", "deepgram", deepgram, "nova-3"))
        ) as gateway,
    ):
        got, code = await session(gateway, pcm())
    assert assemblyai.refused == 1 and code == 1000 and got[-1]["provider"] == "dg"
