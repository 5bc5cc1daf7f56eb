"""Deepgram's live transcription socket (``wss://api.deepgram.com/v1/listen``), read into the gateway's
live messages.

The session's options go in the URL's query (model, language, encoding, sample_rate, channels,
interim_results, punctuate, utterance_end_ms, vad_events); audio goes in binary frames, controls in
text frames (``{"type": "KeepAlive" | "Finalize" | "CloseStream"}``). Deepgram answers with
``Results`` (``is_final``: this stretch of audio will not change again; ``speech_final``: the speaker
paused, the utterance is over), ``SpeechStarted`` (with ``vad_events``), ``UtteranceEnd`` (with
``utterance_end_ms``) and, after ``CloseStream``, a ``Metadata`` summary with the seconds of audio it
received; then it closes with 1000. A failure closes the socket with 1008 (the audio cannot be
decoded, ``DATA-0000``) or 1011 (``NET-0000``; ``NET-0001``: no audio or KeepAlive for ten seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from api_connector.core.live import Control, Encoding, LiveParams
from api_connector.errors import ValidationFailed
from api_connector.wire.base import VendorError
from api_connector.wire.deepgram_results import Alternative, Channel, Lenient
from api_connector.wire.deepgram_speak import decode_error
from api_connector.wire.live import LiveMessage

NOVA_MODELS = ("nova-3", "nova-2", "nova", "enhanced", "base")
_CONTROLS = {
    Control.KEEPALIVE: '{"type":"KeepAlive"}',
    Control.FINALIZE: '{"type":"Finalize"}',
    Control.CLOSE: '{"type":"CloseStream"}',
}
# The HTTP status each documented close code stands for (the classifier decides from it).
_CLOSE_STATUS = {1008: 400, 1011: 500}
_SUPPORTED = {
    Encoding.LINEAR16,
    Encoding.LINEAR32,
    Encoding.FLAC,
    Encoding.MULAW,
    Encoding.ALAW,
    Encoding.OPUS,
    Encoding.SPEEX,
    Encoding.G729,
}


class _Results(Lenient):
    type: Literal["Results"]
    channel: Channel
    channel_index: list[int] = Field(default_factory=lambda: [0, 1])
    start: float = 0.0
    duration: float = 0.0
    is_final: bool = False
    speech_final: bool = False
    from_finalize: bool = False


class _SpeechStarted(Lenient):
    type: Literal["SpeechStarted"]
    channel: list[int] = Field(default_factory=lambda: [0, 1])
    timestamp: float = 0.0


class _UtteranceEnd(Lenient):
    type: Literal["UtteranceEnd"]
    channel: list[int] = Field(default_factory=lambda: [0, 1])
    last_word_end: float = 0.0


class _Metadata(Lenient):
    type: Literal["Metadata"]
    request_id: str | None = None
    duration: float = 0.0
    channels: int = 0


class _Error(Lenient):
    type: Literal["Error"]
    description: str | None = None
    message: str | None = None
    variant: str | None = None


class _Message(BaseModel):
    message: _Results | _SpeechStarted | _UtteranceEnd | _Metadata | _Error = Field(discriminator="type")


def _transcript(said: _Results) -> dict[str, Any]:
    best = said.channel.alternatives[0] if said.channel.alternatives else Alternative()
    return {
        "type": "transcript",
        "is_final": said.is_final,
        "speech_final": said.speech_final,
        "text": best.transcript,
        "confidence": best.confidence,
        "start": said.start,
        "duration": said.duration,
        "channel": said.channel_index[0] if said.channel_index else 0,
        "words": [
            {"word": w.punctuated_word or w.word, "start": w.start, "end": w.end, "confidence": w.confidence}
            for w in best.words
        ],
    }


@dataclass(frozen=True, slots=True)
class DeepgramLive:
    name: str = "deepgram_listen"

    def query(self, params: LiveParams, upstream_model: str) -> dict[str, str]:
        if params.encoding is not None and params.encoding not in _SUPPORTED:
            raise ValidationFailed(f"encoding: Deepgram does not take {params.encoding.value}", param="encoding")
        if params.encoding is not None and not params.sample_rate:
            raise ValidationFailed("sample_rate: required with a raw encoding", param="sample_rate")
        query = {
            "model": upstream_model,
            "channels": str(params.channels),
            "interim_results": _flag(params.interim_results),
            "punctuate": _flag(params.punctuate),
        }
        if params.language:
            query["language"] = params.language
        if params.encoding is not None:
            query["encoding"] = params.encoding.value
        if params.sample_rate:
            query["sample_rate"] = str(params.sample_rate)
        if params.utterance_end_ms is not None:
            query["utterance_end_ms"] = str(params.utterance_end_ms)
        if params.vad_events:
            query["vad_events"] = "true"
        return query

    def control(self, control: Control) -> str | None:
        return _CONTROLS[control]

    def decode(self, text: str, params: LiveParams) -> LiveMessage:
        said = _Message.model_validate({"message": orjson.loads(text)}).message
        if isinstance(said, _Results):
            return LiveMessage(_transcript(said), transcript=True)
        if isinstance(said, _SpeechStarted):
            channel = said.channel[0] if said.channel else 0
            return LiveMessage({"type": "speech_started", "timestamp": said.timestamp, "channel": channel})
        if isinstance(said, _UtteranceEnd):
            channel = said.channel[0] if said.channel else 0
            return LiveMessage({"type": "utterance_end", "last_word_end": said.last_word_end, "channel": channel})
        if isinstance(said, _Metadata):
            body = {"type": "metadata", "provider_request_id": said.request_id, "duration": said.duration}
            return LiveMessage(body, duration=said.duration)
        message = said.description or said.message or "the provider reported an error"
        return LiveMessage(None, error=VendorError(message, code=said.variant, status=500))

    def close_failure(self, code: int, reason: str) -> VendorError | None:
        if code == 1000:
            return None
        # The reason names the error's code first ("NET-0001: ..."), when Deepgram gives one.
        named, _, _ = reason.partition(" ")
        return VendorError(
            reason or f"the provider closed the session with code {code}",
            code=named.rstrip(":") or None,
            status=_CLOSE_STATUS.get(code, 502),
        )

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_error(body)


def _flag(value: bool) -> str:
    return "true" if value else "false"


DEEPGRAM_LIVE = DeepgramLive()
