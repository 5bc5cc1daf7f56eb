"""Text-to-speech in OpenAI's ``audio/speech`` shape: the request, the audio formats, voices, the answer.

A request names a model (a route, ``<instance>/<model>``, a model an instance advertises, or an
instance alone, which then uses its speech endpoint's default model), the text, a voice, the audio
format and a speed. Fields OpenAI's shape lacks (ElevenLabs' ``voice_settings``, a language code)
ride along as extra fields; each vendor's wire types the ones it takes. Audio is bytes from end to
end: nothing here or downstream decodes it as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from api_connector.core.usage import Usage


class AudioFormat(StrEnum):
    MP3 = "mp3"
    OPUS = "opus"
    AAC = "aac"
    FLAC = "flac"
    WAV = "wav"
    PCM = "pcm"


# What each format is answered as (OpenAI's own content types).
CONTENT_TYPES: dict[AudioFormat, str] = {
    AudioFormat.MP3: "audio/mpeg",
    AudioFormat.OPUS: "audio/opus",
    AudioFormat.AAC: "audio/aac",
    AudioFormat.FLAC: "audio/flac",
    AudioFormat.WAV: "audio/wav",
    AudioFormat.PCM: "audio/pcm",
}
# OpenAI's ``pcm`` is raw 16-bit signed little-endian mono samples at 24 kHz: vendors asked for raw
# samples (or a WAV) are asked for the same rate, so a caller gets what the format promises anywhere.
PCM_SAMPLE_RATE = 24_000


class CustomVoice(BaseModel):
    """OpenAI's custom voice object (``{"id": "voice_..."}``), accepted wherever a voice name is."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256)


class SpeechRequest(BaseModel):
    # Extra fields are kept: the OpenAI wire passes them through, other wires read what they know.
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    input: str = Field(min_length=1, max_length=100_000)
    voice: str | CustomVoice
    response_format: AudioFormat = AudioFormat.MP3
    speed: float | None = Field(None, ge=0.25, le=4.0)
    instructions: str | None = Field(None, max_length=4096)
    # Only raw audio is streamed back; OpenAI's "sse" (base64 audio in events) is not offered.
    stream_format: Literal["audio"] | None = None

    # Set for a dead letter's replay: the answer is read whole (nobody listens to a stream).
    _whole: bool = PrivateAttr(False)

    @property
    def voice_id(self) -> str:
        return self.voice if isinstance(self.voice, str) else self.voice.id

    @property
    def whole(self) -> bool:
        return self._whole

    def as_whole(self) -> SpeechRequest:
        copy = self.model_copy()
        copy._whole = True
        return copy

    def extras(self) -> dict[str, Any]:
        """The fields beyond OpenAI's shape, as sent."""
        return dict(self.model_extra or {})

    def wire_dict(self) -> dict[str, Any]:
        """The request as the caller sent it (defaults left out), extra fields included."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)

    def speed_or_default(self) -> float:
        return 1.0 if self.speed is None else self.speed


@dataclass(slots=True)
class SpeechAudio:
    """A whole synthesised answer (a dead letter's replay reads the stream to its end)."""

    audio: bytes
    content_type: str
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class Voice:
    """One voice a provider offers, in one shape whatever the vendor's listing looks like."""

    id: str  # what a request's ``voice`` names
    name: str
    languages: tuple[str, ...] = ()
    gender: str | None = None
    description: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "languages": list(self.languages),
            "gender": self.gender,
            "description": self.description,
        }
