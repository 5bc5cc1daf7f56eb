"""Azure AI Speech, the speech-to-text REST API for short audio: the audio itself is the body.

Azure takes WAV (16-bit PCM) and OGG/Opus, said in the ``Content-Type`` (``audio/wav; codecs=audio/pcm;
samplerate=16000``, ``audio/ogg; codecs=opus``): the wire reads which from the file's header and
refuses anything else before sending, as it refuses a WAV longer than the API's 60 seconds. The query
asks for the ``detailed`` format with word times; ``language`` is required by Azure: the caller's, as a
locale (``en-US``); a bare language (``en``) becomes its most common locale, and none at all ``en-US``.
A target model other than ``default`` is a custom speech endpoint's id (``cid``).

The answer's ``RecognitionStatus`` says whether anything was recognised: ``Success`` gives the best of
``NBest`` (its ``Display`` text, its ``Words``), ``NoMatch`` and the silence and babble timeouts an empty
transcript (no speech is an answer, not a failure), ``Error`` a vendor failure. Times are in ticks of
100 ns. ``prompt`` and ``temperature`` have no counterpart and are not sent; form fields beyond OpenAI's
shape are query parameters (``profanity=masked``). Azure documents no error body: its status says it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from api_connector.core.transcription import Segment, Transcript, TranscriptionRequest, Word
from api_connector.errors import ValidationFailed
from api_connector.wire.base import VendorError, VendorFailed
from api_connector.wire.transcription import Upload

MAX_SECONDS = 60.0
TICK = 1e-7  # seconds in one of Azure's 100-nanosecond ticks
DEFAULT_MODEL = "default"
# A bare language as the locale Azure most often serves it in.
LOCALES = {
    "en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-ES", "it": "it-IT", "pt": "pt-BR", "nl": "nl-NL",
    "ja": "ja-JP", "ko": "ko-KR", "zh": "zh-CN", "ru": "ru-RU", "pl": "pl-PL", "sv": "sv-SE", "tr": "tr-TR",
    "ar": "ar-SA", "hi": "hi-IN", "da": "da-DK", "fi": "fi-FI", "nb": "nb-NO", "cs": "cs-CZ",
}
_SILENT = ("NoMatch", "InitialSilenceTimeout", "BabbleTimeout")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Word(_Lenient):
    word: str = Field(alias="Word")
    offset: int = Field(alias="Offset")
    duration: int = Field(alias="Duration")


class _Best(_Lenient):
    display: str = Field("", alias="Display")
    words: list[_Word] = Field(default_factory=list, alias="Words")


class _Answer(_Lenient):
    status: str = Field(alias="RecognitionStatus")
    display_text: str | None = Field(None, alias="DisplayText")
    offset: int = Field(0, alias="Offset")
    duration: int = Field(0, alias="Duration")
    best: list[_Best] = Field(default_factory=list, alias="NBest")


def content_type(request: TranscriptionRequest) -> str:
    """The Content-Type Azure reads the audio by, from the file's header; ValidationFailed otherwise."""
    head = request.file.opening()
    if head[:4] == b"OggS":
        return "audio/ogg; codecs=opus"
    if len(head) >= 36 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        seconds = request.file.duration()
        if seconds is not None and seconds > MAX_SECONDS:
            raise ValidationFailed(
                f"Azure's REST API for short audio takes at most {MAX_SECONDS:g} seconds; the file has {seconds:g}",
                param="file",
            )
        rate = struct.unpack_from("<I", head, 24)[0]
        return f"audio/wav; codecs=audio/pcm; samplerate={rate}"
    raise ValidationFailed("Azure's REST API for short audio takes WAV (PCM) or OGG (Opus) files", param="file")


def _seconds(ticks: int) -> float:
    return round(ticks * TICK, 7)


def locale(language: str | None) -> str:
    if not language:
        return "en-US"
    if "-" in language:
        return language
    found = LOCALES.get(language.lower())
    if found is None:
        raise ValidationFailed(f"Azure needs a locale such as en-US; {language!r} names none", param="language")
    return found


@dataclass(frozen=True, slots=True)
class AzureSTT:
    name: str = "azure_stt"

    def encode_request(self, request: TranscriptionRequest, upstream_model: str) -> Upload:
        query = {"language": locale(request.language), "format": "detailed", "wordLevelTimestamps": "true"}
        if upstream_model and upstream_model != DEFAULT_MODEL:
            query["cid"] = upstream_model
        query.update(request.extras)
        return Upload(request.file, content_type(request), query)

    def decode_answer(self, body: bytes, content_type: str, request: TranscriptionRequest) -> Transcript:
        answer = _Answer.model_validate_json(body)
        language = locale(request.language)
        if answer.status in _SILENT:
            return Transcript("", language=language, native=body, native_type=content_type)
        if answer.status != "Success":
            raise VendorFailed(VendorError(f"Azure could not recognise the audio: {answer.status}", type=answer.status))
        best = answer.best[0] if answer.best else _Best(Display=answer.display_text or "")
        text = (best.display or answer.display_text or "").strip()
        words = [Word(w.word, _seconds(w.offset), _seconds(w.offset + w.duration)) for w in best.words]
        start, end = _seconds(answer.offset), _seconds(answer.offset + answer.duration)
        return Transcript(
            text,
            language=language,
            segments=[Segment(start, end, text)] if text else [],
            words=words,
            native=body,
            native_type=content_type,
        )

    def decode_error(self, body: bytes) -> VendorError | None:
        return None  # Azure documents no error body for this API: the status says it all


AZURE_STT = AzureSTT()
