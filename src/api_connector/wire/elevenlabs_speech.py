"""ElevenLabs text-to-speech: ``POST /v1/text-to-speech/{voice_id}/stream``, audio streamed back.

The voice is in the path, the format is the ``output_format`` query parameter (OpenAI's formats mapped
to ElevenLabs' ``codec_samplerate[_bitrate]`` names; AAC and FLAC it does not produce), the body is
``{text, model_id, voice_settings, ...}``. ``speed`` goes into ``voice_settings.speed`` (0.7 to 1.2);
the caller may send ElevenLabs' own ``voice_settings`` (stability, similarity_boost, style,
use_speaker_boost), ``language_code``, ``seed``, ``previous_text``, ``next_text`` and
``apply_text_normalization`` as extra fields. OpenAI's ``instructions`` have no counterpart here and
are not sent. Errors are ``{"detail": {"status", "message"}}`` or FastAPI's list of problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_connector.core.speech import AudioFormat, SpeechRequest, Voice
from api_connector.wire.base import VendorError
from api_connector.wire.speech import AudioAnswer, Synthesis, VoiceCatalog, check_speed, refuse_format, typed_extras
from api_connector.wire.vendor_errors import decode_vendor_error

# OpenAI's formats as ElevenLabs names them (the pcm and wav rates are OpenAI's 24 kHz).
OUTPUT_FORMATS: dict[AudioFormat, str] = {
    AudioFormat.MP3: "mp3_44100_128",
    AudioFormat.OPUS: "opus_48000_64",
    AudioFormat.WAV: "wav_24000",
    AudioFormat.PCM: "pcm_24000",
}
_SPEED = (0.7, 1.2)  # voice_settings.speed, as the API reference bounds it


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VoiceSettings(_Strict):
    stability: float | None = Field(None, ge=0, le=1)
    similarity_boost: float | None = Field(None, ge=0, le=1)
    style: float | None = Field(None, ge=0, le=1)
    use_speaker_boost: bool | None = None
    speed: float | None = Field(None, ge=_SPEED[0], le=_SPEED[1])


class _Extras(BaseModel):
    # Fields of other vendors' shapes may ride along too: only ElevenLabs' own are read.
    model_config = ConfigDict(extra="ignore")

    voice_settings: VoiceSettings | None = None
    language_code: str | None = Field(None, max_length=16)
    seed: int | None = Field(None, ge=0, le=4_294_967_295)
    previous_text: str | None = None
    next_text: str | None = None
    apply_text_normalization: Literal["auto", "on", "off"] | None = None


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Detail(_Lenient):
    status: str | None = None
    code: str | None = None
    type: str | None = None
    message: str = ""


class _ErrorBody(_Lenient):
    detail: _Detail


class _Label(_Lenient):
    gender: str | None = None
    language: str | None = None
    description: str | None = None


class _Language(_Lenient):
    language: str


class _Voice(_Lenient):
    voice_id: str
    name: str = ""
    description: str | None = None
    labels: _Label = _Label()
    verified_languages: list[_Language] | None = None


class _Voices(_Lenient):
    voices: list[_Voice]


def decode_voices(body: bytes) -> list[Voice]:
    voices = []
    for voice in _Voices.model_validate_json(body).voices:
        languages = tuple(dict.fromkeys(lang.language for lang in voice.verified_languages or []))
        if not languages and voice.labels.language:
            languages = (voice.labels.language,)
        description = voice.description or voice.labels.description
        voices.append(Voice(voice.voice_id, voice.name, languages, voice.labels.gender, description))
    return voices


def decode_error(body: bytes) -> VendorError | None:
    try:
        detail = _ErrorBody.model_validate_json(body).detail
    except ValidationError:
        return decode_vendor_error(body)  # {"detail": "..."} and FastAPI's list of problems
    return VendorError(detail.message, type=detail.type, code=detail.status or detail.code)


@dataclass(frozen=True, slots=True)
class ElevenLabsSpeech(AudioAnswer):
    name: str = "elevenlabs_speech"
    voices: VoiceCatalog = field(default_factory=lambda: VoiceCatalog(path="/v1/voices", decode=decode_voices))

    def encode_request(self, request: SpeechRequest, upstream_model: str) -> Synthesis:
        output = OUTPUT_FORMATS.get(request.response_format)
        if output is None:
            raise refuse_format("ElevenLabs", request.response_format, OUTPUT_FORMATS)
        extras = typed_extras(_Extras, request)
        settings = extras.voice_settings.model_dump(exclude_none=True) if extras.voice_settings else {}
        speed = check_speed("ElevenLabs", request, *_SPEED)
        if speed is not None:
            settings["speed"] = speed
        body: dict[str, Any] = {"text": request.input, "model_id": upstream_model}
        if settings:
            body["voice_settings"] = settings
        body.update(extras.model_dump(exclude_none=True, exclude={"voice_settings"}))
        return Synthesis(orjson.dumps(body), query={"output_format": output})

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_error(body)


ELEVENLABS_SPEECH = ElevenLabsSpeech()
