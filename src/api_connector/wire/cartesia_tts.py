"""Cartesia text-to-speech: ``POST /tts/bytes``, audio bytes streamed back as they are generated.

The body is ``{model_id, transcript, voice: {mode: "id", id}, output_format: {container, encoding,
sample_rate}}`` (plus ``language`` when the caller sends it as an extra field). Cartesia's containers
are mp3, wav and raw: OpenAI's mp3, wav and pcm (16-bit little-endian at OpenAI's 24 kHz); opus, aac
and flac it does not produce. The request has no speed of the stable API's, so a speed other than 1.0
is refused; OpenAI's ``instructions`` are not sent. Voices come from ``GET /voices`` (a list, or a
page ``{"data": [...]}`` in later API versions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from api_connector.core.speech import PCM_SAMPLE_RATE, AudioFormat, SpeechRequest, Voice
from api_connector.wire.base import VendorError
from api_connector.wire.speech import AudioAnswer, Synthesis, VoiceCatalog, no_speed, refuse_format, typed_extras
from api_connector.wire.vendor_errors import decode_vendor_error

_PCM = {"encoding": "pcm_s16le", "sample_rate": PCM_SAMPLE_RATE}
OUTPUT_FORMATS: dict[AudioFormat, dict[str, Any]] = {
    AudioFormat.MP3: {"container": "mp3", "sample_rate": 44_100, "bit_rate": 128_000},
    AudioFormat.WAV: {"container": "wav", **_PCM},
    AudioFormat.PCM: {"container": "raw", **_PCM},
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Extras(_Lenient):
    language: str | None = Field(None, max_length=16)


class _Voice(_Lenient):
    id: str
    name: str = ""
    description: str | None = None
    language: str | None = None
    gender: str | None = None


class _Page(_Lenient):
    data: list[_Voice]


_LISTING = TypeAdapter(list[_Voice] | _Page)


def decode_voices(body: bytes) -> list[Voice]:
    listed = _LISTING.validate_json(body)
    voices = listed.data if isinstance(listed, _Page) else listed
    return [
        Voice(v.id, v.name or v.id, (v.language,) if v.language else (), v.gender, v.description or None)
        for v in voices
    ]


@dataclass(frozen=True, slots=True)
class CartesiaTTS(AudioAnswer):
    name: str = "cartesia_tts"
    voices: VoiceCatalog = field(default_factory=lambda: VoiceCatalog(path="/voices", decode=decode_voices))

    def encode_request(self, request: SpeechRequest, upstream_model: str) -> Synthesis:
        output = OUTPUT_FORMATS.get(request.response_format)
        if output is None:
            raise refuse_format("Cartesia", request.response_format, OUTPUT_FORMATS)
        no_speed("Cartesia", request)
        extras = typed_extras(_Extras, request)
        body: dict[str, Any] = {
            "model_id": upstream_model,
            "transcript": request.input,
            "voice": {"mode": "id", "id": request.voice_id},
            "output_format": output,
        }
        if extras.language:
            body["language"] = extras.language
        return Synthesis(orjson.dumps(body))

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_vendor_error(body)


CARTESIA_TTS = CartesiaTTS()
