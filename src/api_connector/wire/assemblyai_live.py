"""AssemblyAI's Universal-Streaming v3 socket (``wss://streaming.assemblyai.com/v3/ws``), read into the
gateway's live messages.

The session's options go in the URL's query (``speech_model``: the route target's model; ``sample_rate``;
``encoding`` ``pcm_s16le`` | ``pcm_mulaw``: raw mono audio only; ``format_turns``; ``max_turn_silence``);
audio goes in binary frames of 50 to 1000 ms, controls in text frames (``{"type": "ForceEndpoint" |
"Terminate"}``). AssemblyAI answers with ``Begin`` (the session's id) once the socket is open, then
``Turn`` messages: partial ones while the turn goes on (``transcript`` holds its finalized words,
``words`` every word so far), one with ``end_of_turn`` when the speaker is done and, with
``format_turns``, the same turn again formatted (``turn_is_formatted``): the final one is that last
message. ``SpeechStarted`` comes on the models that detect speech. ``Terminate`` is answered with
``Termination`` (``audio_duration_seconds``: the audio it received, metered here) and a 1000 close.

It has no interim switch (partials always come: they are dropped when the caller asks for none) and
needs no keep-alive: a session without ``inactivity_timeout`` stays open until ``Terminate`` or its
three hours, so a quiet caller costs nothing to send. Times are in milliseconds; the gateway's are
seconds. A failure is an ``Error`` frame (``error_code``, ``error``) then a close with that code: 1008
(unauthorized; too many sessions), 3005 (the server failed), 3006 (a message it cannot read), 3007 (an
audio chunk outside 50-1000 ms, or audio faster than real time), 3008 (the session expired), 3009 (too
many concurrent sessions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from api_connector.core.live import Control, Encoding, LiveParams
from api_connector.errors import ValidationFailed
from api_connector.wire.assemblyai_transcript import ASSEMBLYAI_TRANSCRIPT
from api_connector.wire.base import VendorError
from api_connector.wire.live import LiveMessage

STREAMING_MODELS = ("universal-streaming-english", "universal-streaming-multilingual", "u3-rt-pro", "whisper-rt")
ENGLISH_ONLY = "universal-streaming-english"
_ENCODINGS = {Encoding.LINEAR16: "pcm_s16le", Encoding.MULAW: "pcm_mulaw"}
_CONTROLS = {Control.FINALIZE: '{"type":"ForceEndpoint"}', Control.CLOSE: '{"type":"Terminate"}'}
# The HTTP status each documented close code stands for (the classifier decides from it).
_CLOSE_STATUS = {1008: 401, 3005: 500, 3006: 400, 3007: 400, 3008: 408, 3009: 429}
_MS = 1000.0


class _Lenient(BaseModel):
    """AssemblyAI adds fields over time (speaker labels, language detection): read what is known."""

    model_config = ConfigDict(extra="ignore")


class _Begin(_Lenient):
    type: Literal["Begin"]
    id: str | None = None
    expires_at: int | None = None


class _SpeechStarted(_Lenient):
    type: Literal["SpeechStarted"]
    timestamp: float = 0.0


class _Word(_Lenient):
    text: str
    start: float
    end: float
    confidence: float = 0.0
    word_is_final: bool = True


class _Turn(_Lenient):
    type: Literal["Turn"]
    turn_order: int = 0
    end_of_turn: bool = False
    turn_is_formatted: bool = False
    transcript: str = ""
    words: list[_Word] = Field(default_factory=list)


class _Termination(_Lenient):
    type: Literal["Termination"]
    audio_duration_seconds: float = 0.0
    session_duration_seconds: float = 0.0


class _Error(_Lenient):
    type: Literal["Error"]
    error_code: int | None = None
    error: str | None = None


class _Message(BaseModel):
    message: _Begin | _SpeechStarted | _Turn | _Termination | _Error = Field(discriminator="type")


def _final(turn: _Turn, params: LiveParams) -> bool:
    """The turn's last word: its end, formatted when formatting was asked (the unformatted end of turn
    that comes first is then one more interim)."""
    return turn.end_of_turn and (turn.turn_is_formatted or not params.punctuate)


def _transcript(turn: _Turn, final: bool) -> dict[str, Any]:
    words = turn.words
    start = words[0].start / _MS if words else 0.0
    end = words[-1].end / _MS if words else start
    return {
        "type": "transcript",
        "is_final": final,
        "speech_final": final,  # a turn ends where the speaker is done: the utterance is over too
        "text": turn.transcript,
        "confidence": round(sum(w.confidence for w in words) / len(words), 6) if words else 0.0,
        "start": start,
        "duration": round(end - start, 3),
        "channel": 0,
        "words": [
            {"word": w.text, "start": w.start / _MS, "end": w.end / _MS, "confidence": w.confidence} for w in words
        ],
    }


@dataclass(frozen=True, slots=True)
class AssemblyAILive:
    name: str = "assemblyai_streaming"

    def query(self, params: LiveParams, upstream_model: str) -> dict[str, str]:
        if params.encoding is None or params.encoding not in _ENCODINGS:
            raise ValidationFailed(
                "encoding: AssemblyAI takes raw audio only, linear16 or mulaw (with sample_rate)", param="encoding"
            )
        if not params.sample_rate:
            raise ValidationFailed("sample_rate: required with a raw encoding", param="sample_rate")
        if params.channels != 1:
            raise ValidationFailed("channels: AssemblyAI transcribes one channel", param="channels")
        language = (params.language or "").lower()
        if upstream_model == ENGLISH_ONLY and language and not language.startswith("en"):
            raise ValidationFailed(
                f"language: {ENGLISH_ONLY} hears English only; universal-streaming-multilingual takes "
                f"{params.language}",
                param="language",
            )
        query = {
            "speech_model": upstream_model,
            "sample_rate": str(params.sample_rate),
            "encoding": _ENCODINGS[params.encoding],
            "format_turns": "true" if params.punctuate else "false",
        }
        if params.utterance_end_ms is not None:
            query["max_turn_silence"] = str(params.utterance_end_ms)
        return query

    def control(self, control: Control) -> str | None:
        return _CONTROLS.get(control)  # no keep-alive: see the module's docstring

    def decode(self, text: str, params: LiveParams) -> LiveMessage:
        said = _Message.model_validate({"message": orjson.loads(text)}).message
        if isinstance(said, _Turn):
            final = _final(said, params)
            if not final and not params.interim_results:
                return LiveMessage(None)
            body = _transcript(said, final)
            after: tuple[dict[str, Any], ...] = ()
            if final and params.utterance_end_ms is not None:
                last = body["words"][-1]["end"] if body["words"] else body["start"]
                after = ({"type": "utterance_end", "last_word_end": last, "channel": 0},)
            return LiveMessage(body, transcript=True, after=after)
        if isinstance(said, _Begin):
            return LiveMessage({"type": "metadata", "provider_request_id": said.id, "duration": None})
        if isinstance(said, _SpeechStarted):
            if not params.vad_events:
                return LiveMessage(None)
            return LiveMessage({"type": "speech_started", "timestamp": said.timestamp / _MS, "channel": 0})
        if isinstance(said, _Termination):
            seconds = said.audio_duration_seconds
            body = {"type": "metadata", "provider_request_id": None, "duration": seconds}
            return LiveMessage(body, duration=seconds)
        code = said.error_code
        status = _CLOSE_STATUS.get(code, 500) if code is not None else 500
        message = said.error or "the provider reported an error"
        return LiveMessage(None, error=VendorError(message, code=str(code) if code else None, status=status))

    def close_failure(self, code: int, reason: str) -> VendorError | None:
        if code == 1000:
            return None
        status = _CLOSE_STATUS.get(code, 502)
        if code == 1008 and "concurrent" in reason.lower():
            status = 429  # the older code for the new-sessions limit
        return VendorError(reason or f"the provider closed the session with code {code}", code=str(code), status=status)

    def decode_error(self, body: bytes) -> VendorError | None:
        return ASSEMBLYAI_TRANSCRIPT.decode_error(body)  # a refused handshake answers as the REST API does


ASSEMBLYAI_LIVE = AssemblyAILive()
