"""Google Cloud Text-to-Speech: ``POST /v1/text:synthesize``, the audio as base64 in one JSON answer.

Not a stream: the answer ``{"audioContent": "<base64>"}`` is decoded and handed on as one piece. The
request is ``{input: {text}, voice: {languageCode, name}, audioConfig: {audioEncoding, speakingRate}}``;
the language comes from the voice name ("en-US-Neural2-A") unless the caller sends ``language_code``.
OpenAI's formats map to MP3, OGG_OPUS, LINEAR16 (which Google wraps in a WAV header) and PCM (raw
samples, at OpenAI's 24 kHz); AAC and FLAC it does not produce. ``speed`` is ``speakingRate`` (the
same 0.25 to 4.0). A target model, when given, is the voice's ``modelName`` (Gemini-TTS voices), and
only then are ``instructions`` sent, as the input's ``prompt``. Errors are ``google.rpc.Status``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from api_connector.core.speech import PCM_SAMPLE_RATE, AudioFormat, SpeechRequest, Voice
from api_connector.wire.base import VendorError
from api_connector.wire.google_errors import decode_google_error
from api_connector.wire.speech import Synthesis, VoiceCatalog, locale_of, refuse_format, typed_extras

ENCODINGS: dict[AudioFormat, str] = {
    AudioFormat.MP3: "MP3",
    AudioFormat.OPUS: "OGG_OPUS",
    AudioFormat.WAV: "LINEAR16",
    AudioFormat.PCM: "PCM",
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Extras(_Lenient):
    language_code: str | None = Field(None, max_length=35)
    pitch: float | None = Field(None, ge=-20, le=20)
    volume_gain_db: float | None = Field(None, ge=-96, le=16)


class _Answer(_Lenient):
    audio_content: str = Field(alias="audioContent")


class _Voice(_Lenient):
    name: str
    language_codes: list[str] = Field(default_factory=list, alias="languageCodes")
    ssml_gender: str | None = Field(None, alias="ssmlGender")


class _Voices(_Lenient):
    voices: list[_Voice] = []


def decode_voices(body: bytes) -> list[Voice]:
    return [
        Voice(v.name, v.name, tuple(v.language_codes), (v.ssml_gender or "").lower() or None)
        for v in _Voices.model_validate_json(body).voices
    ]


@dataclass(frozen=True, slots=True)
class GoogleTTS:
    name: str = "google_tts"
    voices: VoiceCatalog = field(default_factory=lambda: VoiceCatalog(path="/v1/voices", decode=decode_voices))
    whole_body: bool = True

    def encode_request(self, request: SpeechRequest, upstream_model: str) -> Synthesis:
        encoding = ENCODINGS.get(request.response_format)
        if encoding is None:
            raise refuse_format("Google Cloud Text-to-Speech", request.response_format, ENCODINGS)
        extras = typed_extras(_Extras, request)
        voice: dict[str, Any] = {
            "languageCode": locale_of(request.voice_id, extras.language_code, "Google Cloud Text-to-Speech"),
            "name": request.voice_id,
        }
        text: dict[str, Any] = {"text": request.input}
        if upstream_model:
            voice["modelName"] = upstream_model
            if request.instructions:
                text["prompt"] = request.instructions
        config: dict[str, Any] = {"audioEncoding": encoding}
        if request.speed is not None and request.speed != 1.0:
            config["speakingRate"] = request.speed
        if request.response_format in (AudioFormat.PCM, AudioFormat.WAV):
            config["sampleRateHertz"] = PCM_SAMPLE_RATE
        if extras.pitch is not None:
            config["pitch"] = extras.pitch
        if extras.volume_gain_db is not None:
            config["volumeGainDb"] = extras.volume_gain_db
        return Synthesis(orjson.dumps({"input": text, "voice": voice, "audioConfig": config}))

    def decode_audio(self, body: bytes) -> bytes:
        content = _Answer.model_validate_json(body).audio_content
        try:
            return base64.b64decode(content, validate=True)
        except binascii.Error:
            raise ValueError("audioContent is not base64") from None

    def billed_characters(self, headers: Mapping[str, str]) -> int | None:
        return None

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_google_error(body)


GOOGLE_TTS = GoogleTTS()
