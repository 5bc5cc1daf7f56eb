"""Deepgram's live messages, recorded (``Results``) and documented (``SpeechStarted``, ``UtteranceEnd``,
``Metadata``, close codes), read by its live wire into the gateway's messages; the recorded session's
options asked the way the wire asks them. AssemblyAI's documented Universal-Streaming messages likewise
(``Begin``, partial and final ``Turn``s, ``Termination``, ``Error``, close codes). The whole session,
through the running gateway, is ``tests/capabilities/test_live_transcription.py``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api_connector.core.capabilities import Capability
from api_connector.core.live import Control, LiveParams
from api_connector.errors import (
    RateLimited,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamServerError,
    UpstreamTimeout,
    ValidationFailed,
)
from api_connector.providers import REGISTRY
from api_connector.routing.classify import classify_vendor_error
from api_connector.wire.assemblyai_live import ASSEMBLYAI_LIVE
from api_connector.wire.deepgram_live import DEEPGRAM_LIVE
from tests.conformance.live_table import ASSEMBLYAI_STREAMING, EVENTS, OPTIONS, RESULTS
from tests.conformance.providers import check_covered, network_provider_types

PARAMS = LiveParams(model="dg/nova-3")


def _load(path: Any) -> Any:
    return orjson.loads(path.read_bytes())


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.stem)
def test_recorded_results_become_transcripts(path: Any) -> None:
    said = _load(path)
    message = DEEPGRAM_LIVE.decode(orjson.dumps(said).decode(), PARAMS)
    assert message.transcript and message.error is None and message.duration is None
    best = said["channel"]["alternatives"][0]
    body = message.body
    assert body is not None
    assert body["type"] == "transcript" and body["text"] == best["transcript"]
    assert (body["is_final"], body["speech_final"]) == (said["is_final"], said["speech_final"])
    assert (body["start"], body["duration"], body["channel"]) == (said["start"], said["duration"], 0)
    assert [w["word"] for w in body["words"]] == [w["punctuated_word"] for w in best["words"]]
    assert [(w["start"], w["end"]) for w in body["words"]] == [(w["start"], w["end"]) for w in best["words"]]


def test_documented_events_become_gateway_messages() -> None:
    events = _load(EVENTS)
    started = DEEPGRAM_LIVE.decode(orjson.dumps(events["SpeechStarted"]).decode(), PARAMS)
    assert started.body == {"type": "speech_started", "timestamp": 9.54, "channel": 0} and not started.transcript
    ended = DEEPGRAM_LIVE.decode(orjson.dumps(events["UtteranceEnd"]).decode(), PARAMS)
    assert ended.body == {"type": "utterance_end", "last_word_end": 2.395, "channel": 0}
    summary = DEEPGRAM_LIVE.decode(orjson.dumps({**events["Metadata"], "duration": 3.25}).decode(), PARAMS)
    assert summary.duration == 3.25 and summary.body is not None
    assert summary.body["provider_request_id"] == events["Metadata"]["request_id"]


def test_documented_close_codes_are_classified() -> None:
    closes = _load(EVENTS)["close"]
    assert DEEPGRAM_LIVE.close_failure(1000, "") is None
    no_audio = DEEPGRAM_LIVE.close_failure(closes["no_audio"]["code"], closes["no_audio"]["reason"])
    bad_audio = DEEPGRAM_LIVE.close_failure(closes["bad_audio"]["code"], closes["bad_audio"]["reason"])
    assert no_audio is not None and bad_audio is not None
    assert no_audio.code == "NET-0001" and bad_audio.code == "DATA-0000"
    assert isinstance(classify_vendor_error(no_audio, provider="dg"), UpstreamServerError)
    assert isinstance(classify_vendor_error(bad_audio, provider="dg"), UpstreamBadRequest)


def test_the_recorded_sessions_options_are_asked_as_recorded() -> None:
    recorded = _load(OPTIONS)
    params = LiveParams(
        model="dg/nova-3",
        language=recorded["language"],
        encoding=recorded["encoding"],
        sample_rate=recorded["sample_rate"],
        channels=recorded["channels"],
        interim_results=False,
        punctuate=recorded["punctuate"],
    )
    query = DEEPGRAM_LIVE.query(params, recorded["model"])
    as_recorded = {
        name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in recorded.items()
    }
    assert {name: value for name, value in query.items() if name != "interim_results"} == {
        name: as_recorded[name] for name in query if name != "interim_results"
    }
    assert query["interim_results"] == "false"


def test_what_the_vendor_cannot_take_is_refused_naming_the_parameter() -> None:
    with pytest.raises(ValidationFailed) as refused:
        DEEPGRAM_LIVE.query(LiveParams(model="dg", encoding="linear16"), "nova-3")
    assert refused.value.param == "sample_rate"
    with pytest.raises(ValueError):
        DEEPGRAM_LIVE.decode('{"type": "Results"}', PARAMS)


# -- AssemblyAI's Universal-Streaming (documented messages) --------------------------------------------

AAI = orjson.loads(ASSEMBLYAI_STREAMING.read_bytes())
AAI_PARAMS = LiveParams(model="aai", encoding="linear16", sample_rate=16000)


def _aai(said: dict[str, Any], params: LiveParams = AAI_PARAMS) -> Any:
    return ASSEMBLYAI_LIVE.decode(orjson.dumps(said).decode(), params)


def test_assemblyai_turns_become_interim_then_one_final_transcript() -> None:
    read = [_aai(turn) for turn in AAI["Turns"]]
    bodies = [message.body for message in read]
    assert all(message.transcript and message.error is None for message in read)
    # Formatting was asked (punctuate): the unformatted end of turn is one more interim, the formatted one final.
    assert [b["is_final"] for b in bodies] == [False, False, False, True]
    assert [b["speech_final"] for b in bodies] == [False, False, False, True]
    assert [b["text"] for b in bodies] == [turn["transcript"] for turn in AAI["Turns"]]
    final, documented = bodies[-1], AAI["Turns"][-1]
    assert final["words"][0] == {"word": "Hi,", "start": 1.92, "end": 2.0, "confidence": 0.874618}
    assert [w["word"] for w in final["words"]] == [w["text"] for w in documented["words"]]
    assert (final["start"], final["duration"], final["channel"]) == (1.92, 1.44, 0)
    assert final["confidence"] == pytest.approx(sum(w["confidence"] for w in documented["words"]) / 5)


def test_assemblyai_without_formatting_the_end_of_turn_is_final() -> None:
    plain = AAI_PARAMS.model_copy(update={"punctuate": False})
    assert [_aai(turn, plain).body["is_final"] for turn in AAI["Turns"][:3]] == [False, False, True]


def test_assemblyai_partials_are_dropped_when_no_interim_results_are_asked() -> None:
    quiet = AAI_PARAMS.model_copy(update={"interim_results": False})
    read = [_aai(turn, quiet) for turn in AAI["Turns"]]
    assert [m.body is not None for m in read] == [False, False, False, True]
    assert [m.transcript for m in read] == [False, False, False, True], "a dropped partial ends no failover"


def test_assemblyai_a_final_turn_also_ends_the_utterance_when_asked() -> None:
    asked = AAI_PARAMS.model_copy(update={"utterance_end_ms": 1000})
    assert _aai(AAI["Turns"][-1]).after == ()
    assert _aai(AAI["Turns"][-1], asked).after == ({"type": "utterance_end", "last_word_end": 3.36, "channel": 0},)
    assert _aai(AAI["Turns"][1], asked).after == ()


def test_assemblyai_begin_speech_started_and_termination() -> None:
    begin = _aai(AAI["Begin"])
    assert begin.body == {"type": "metadata", "provider_request_id": AAI["Begin"]["id"], "duration": None}
    assert not begin.transcript and begin.duration is None
    assert _aai(AAI["SpeechStarted"]).body is None, "speech_started only with vad_events"
    vad = AAI_PARAMS.model_copy(update={"vad_events": True})
    assert _aai(AAI["SpeechStarted"], vad).body == {"type": "speech_started", "timestamp": 1.92, "channel": 0}
    end = _aai(AAI["Termination"])
    assert end.duration == AAI["Termination"]["audio_duration_seconds"] and end.body is not None
    assert end.body["duration"] == end.duration


def test_assemblyai_errors_and_close_codes_are_classified() -> None:
    error = _aai(AAI["Error"]).error
    assert error is not None and error.code == "3008" and error.message == AAI["Error"]["error"]
    assert isinstance(classify_vendor_error(error, provider="aai"), UpstreamTimeout)
    closes = AAI["close"]
    expected = {
        "expired": UpstreamTimeout,
        "bad_chunk": UpstreamBadRequest,
        "invalid_message": UpstreamBadRequest,
        "server": UpstreamServerError,
        "concurrency": RateLimited,
        "unauthorized": UpstreamAuthFailed,
    }
    for name, kind in expected.items():
        said = ASSEMBLYAI_LIVE.close_failure(closes[name]["code"], closes[name]["reason"])
        assert said is not None and said.code == str(closes[name]["code"])
        assert isinstance(classify_vendor_error(said, provider="aai"), kind), name
    older = ASSEMBLYAI_LIVE.close_failure(1008, "Unauthorized Connection: Too many concurrent sessions")
    assert older is not None and isinstance(classify_vendor_error(older, provider="aai"), RateLimited)
    assert ASSEMBLYAI_LIVE.close_failure(1000, "") is None


def test_assemblyai_controls_are_the_documented_messages_and_keepalive_sends_nothing() -> None:
    controls = AAI["controls"]
    assert orjson.loads(ASSEMBLYAI_LIVE.control(Control.FINALIZE) or "") == controls["finalize"]
    assert orjson.loads(ASSEMBLYAI_LIVE.control(Control.CLOSE) or "") == controls["close"]
    # Its KeepAlive only resets an inactivity_timeout, which the gateway never sets: nothing to send.
    assert ASSEMBLYAI_LIVE.control(Control.KEEPALIVE) is None


def test_assemblyai_session_options_and_refusals() -> None:
    asked = AAI_PARAMS.model_copy(update={"utterance_end_ms": 1500, "language": "en-US"})
    assert ASSEMBLYAI_LIVE.query(asked, "universal-streaming-english") == {
        "speech_model": "universal-streaming-english",
        "sample_rate": "16000",
        "encoding": "pcm_s16le",
        "format_turns": "true",
        "max_turn_silence": "1500",
    }
    mulaw = LiveParams(model="aai", encoding="mulaw", sample_rate=8000, punctuate=False)
    assert ASSEMBLYAI_LIVE.query(mulaw, "u3-rt-pro")["encoding"] == "pcm_mulaw"
    refused = {
        "encoding": LiveParams(model="aai"),  # a container: AssemblyAI takes raw audio only
        "sample_rate": LiveParams(model="aai", encoding="linear16"),
        "channels": AAI_PARAMS.model_copy(update={"channels": 2}),
        "language": AAI_PARAMS.model_copy(update={"language": "fr"}),
    }
    for param, params in refused.items():
        with pytest.raises(ValidationFailed) as refusal:
            ASSEMBLYAI_LIVE.query(params, "universal-streaming-english")
        assert refusal.value.param == param
    assert ASSEMBLYAI_LIVE.query(refused["language"], "universal-streaming-multilingual")["speech_model"]
    with pytest.raises(ValueError):
        _aai({"type": "Turn", "words": [{"text": "hi"}]})


def test_every_live_provider_has_conformance_cases() -> None:
    covered = {
        name
        for name in network_provider_types(Capability.LIVE_TRANSCRIPTION)
        if REGISTRY[name].endpoints[Capability.LIVE_TRANSCRIPTION].wire in (DEEPGRAM_LIVE, ASSEMBLYAI_LIVE)
    }
    check_covered(Capability.LIVE_TRANSCRIPTION, covered)
