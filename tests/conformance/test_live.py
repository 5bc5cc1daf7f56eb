"""Deepgram's live messages, recorded (``Results``) and documented (``SpeechStarted``, ``UtteranceEnd``,
``Metadata``, close codes), read by its live wire into the gateway's messages; the recorded session's
options asked the way the wire asks them. The whole session, through the running gateway, is
``tests/capabilities/test_live_transcription.py``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api_connector.core.live import LiveParams
from api_connector.errors import UpstreamBadRequest, UpstreamServerError, ValidationFailed
from api_connector.routing.classify import classify_vendor_error
from api_connector.wire.deepgram_live import DEEPGRAM_LIVE
from tests.conformance.live_table import EVENTS, OPTIONS, RESULTS


def _load(path: Any) -> Any:
    return orjson.loads(path.read_bytes())


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.stem)
def test_recorded_results_become_transcripts(path: Any) -> None:
    said = _load(path)
    message = DEEPGRAM_LIVE.decode(orjson.dumps(said).decode())
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
    started = DEEPGRAM_LIVE.decode(orjson.dumps(events["SpeechStarted"]).decode())
    assert started.body == {"type": "speech_started", "timestamp": 9.54, "channel": 0} and not started.transcript
    ended = DEEPGRAM_LIVE.decode(orjson.dumps(events["UtteranceEnd"]).decode())
    assert ended.body == {"type": "utterance_end", "last_word_end": 2.395, "channel": 0}
    summary = DEEPGRAM_LIVE.decode(orjson.dumps({**events["Metadata"], "duration": 3.25}).decode())
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
        DEEPGRAM_LIVE.decode('{"type": "Results"}')
