"""Deepgram Aura text-to-speech: ``POST /v1/speak?model=...&encoding=...``, body ``{"text": ...}``.

The voice is the model ("aura-2-thalia-en"): a request whose ``voice`` names an Aura model uses it,
any other voice (an OpenAI name a client sends out of habit) leaves the target's model in charge.
Deepgram produces every OpenAI format: ``encoding`` mp3, opus (in Ogg), aac, flac, and linear16 in a
WAV container or none (raw samples) at OpenAI's 24 kHz. Aura has no speed setting, so a speed other
than 1.0 is refused. The answer says what Deepgram billed in ``dg-char-count``. Errors are
``{"err_code", "err_msg"}`` (older) or ``{"category", "message"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.core.speech import PCM_SAMPLE_RATE, AudioFormat, SpeechRequest, Voice
from api_connector.wire.base import VendorError
from api_connector.wire.speech import AudioAnswer, Synthesis, VoiceCatalog, no_speed

_RAW = {"encoding": "linear16", "sample_rate": str(PCM_SAMPLE_RATE)}
QUERIES: dict[AudioFormat, dict[str, str]] = {
    AudioFormat.MP3: {"encoding": "mp3"},
    AudioFormat.OPUS: {"encoding": "opus"},
    AudioFormat.AAC: {"encoding": "aac"},
    AudioFormat.FLAC: {"encoding": "flac"},
    AudioFormat.WAV: {**_RAW, "container": "wav"},
    AudioFormat.PCM: {**_RAW, "container": "none"},
}
CHARACTERS_HEADER = "dg-char-count"

# Aura voices (models), from Deepgram's "TTS voices and languages" page: (model, name, language, gender).
_AURA = (
    ("aura-2-thalia-en", "Thalia", "en-US", "female"),
    ("aura-2-andromeda-en", "Andromeda", "en-US", "female"),
    ("aura-2-helena-en", "Helena", "en-US", "female"),
    ("aura-2-apollo-en", "Apollo", "en-US", "male"),
    ("aura-2-arcas-en", "Arcas", "en-US", "male"),
    ("aura-2-aries-en", "Aries", "en-US", "male"),
    ("aura-2-luna-en", "Luna", "en-US", "female"),
    ("aura-2-orion-en", "Orion", "en-US", "male"),
    ("aura-2-zeus-en", "Zeus", "en-US", "male"),
    ("aura-2-celeste-es", "Celeste", "es-CO", "female"),
    ("aura-2-nestor-es", "Nestor", "es-ES", "male"),
    ("aura-asteria-en", "Asteria", "en-US", "female"),
    ("aura-luna-en", "Luna", "en-US", "female"),
    ("aura-stella-en", "Stella", "en-US", "female"),
    ("aura-athena-en", "Athena", "en-GB", "female"),
    ("aura-hera-en", "Hera", "en-US", "female"),
    ("aura-orion-en", "Orion", "en-US", "male"),
    ("aura-arcas-en", "Arcas", "en-US", "male"),
    ("aura-perseus-en", "Perseus", "en-US", "male"),
    ("aura-angus-en", "Angus", "en-IE", "male"),
    ("aura-orpheus-en", "Orpheus", "en-US", "male"),
    ("aura-helios-en", "Helios", "en-GB", "male"),
    ("aura-zeus-en", "Zeus", "en-US", "male"),
)
AURA_VOICES = tuple(Voice(model, name, (language,), gender) for model, name, language, gender in _AURA)
AURA_MODELS = tuple(model for model, *_ in _AURA)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Error(_Lenient):
    err_code: str | None = None
    err_msg: str | None = None
    category: str | None = None
    message: str | None = None
    details: str | None = None


def decode_error(body: bytes) -> VendorError | None:
    try:
        said = _Error.model_validate_json(body)
    except ValidationError:
        return None
    if said.err_msg:
        return VendorError(said.err_msg, code=said.err_code)
    if said.message:
        # The category form's details say what exactly was wrong ("missing field `text`").
        message = f"{said.message} ({said.details})" if said.details else said.message
        return VendorError(message, type=said.category)
    return None


@dataclass(frozen=True, slots=True)
class DeepgramSpeak(AudioAnswer):
    name: str = "deepgram_speak"
    voices: VoiceCatalog = field(default_factory=lambda: VoiceCatalog(fixed=AURA_VOICES))

    def encode_request(self, request: SpeechRequest, upstream_model: str) -> Synthesis:
        no_speed("Deepgram Aura", request)
        voice = request.voice_id
        model = voice if voice.startswith("aura-") else upstream_model
        query = {"model": model, **QUERIES[request.response_format]}
        return Synthesis(orjson.dumps({"text": request.input}), query=query)

    def billed_characters(self, headers: Mapping[str, str]) -> int | None:
        value = headers.get(CHARACTERS_HEADER)
        return int(value) if value is not None and value.isdigit() else None

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_error(body)


DEEPGRAM_SPEAK = DeepgramSpeak()
