"""OpenAI's ``POST /audio/transcriptions`` and ``/audio/translations`` (also Groq's, and any server of
that shape): the caller's form sent on with the target's model, the upload streamed inside it.

The vendor is asked for its richest answer the model gives, whatever format the caller wants:
``verbose_json`` of Whisper models (language, duration, segments, and words when the caller asked for
them), ``json`` of the others (gpt-4o-transcribe and its kind take nothing else); the gateway renders
the caller's format from that, so every format is metered by the same duration and subtitles have
real cue times. Form fields beyond OpenAI's shape are passed on as they came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from api_connector.core.transcription import (
    Granularity,
    Segment,
    Transcript,
    TranscriptFormat,
    TranscriptionRequest,
    Word,
)
from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError
from api_connector.wire.multipart import MultipartBody
from api_connector.wire.openai_chat import decode_openai_error
from api_connector.wire.transcription import Upload

_SUBTITLES = (TranscriptFormat.SRT, TranscriptFormat.VTT)
_SEGMENT_FIELDS = ("start", "end", "text")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Word(_Lenient):
    word: str
    start: float
    end: float


class _Segment(_Lenient):
    start: float
    end: float
    text: str


class _Usage(_Lenient):
    type: Literal["duration", "tokens"] | str
    seconds: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class _Answer(_Lenient):
    text: str
    language: str | None = None
    duration: float | None = None
    segments: list[_Segment] | None = None
    words: list[_Word] | None = None
    usage: _Usage | None = None


@dataclass(frozen=True, slots=True)
class OpenAITranscription:
    name: str = "openai_transcription"
    # Models whose answers may be verbose_json (start of the model id); the rest answer json.
    verbose_models: tuple[str, ...] = ("whisper",)

    def encode_request(self, request: TranscriptionRequest, upstream_model: str) -> Upload:
        verbose = upstream_model.startswith(self.verbose_models)
        fields: list[tuple[str, str]] = [("model", upstream_model)]
        fields += [(name, value) for name, value in request.extras.items() if name != "model"]
        for name, value in (("language", request.language), ("prompt", request.prompt)):
            if value is not None and not (name == "language" and request.translate):
                fields.append((name, value))
        if request.temperature is not None:
            fields.append(("temperature", f"{request.temperature:g}"))
        fields.append(("response_format", "verbose_json" if verbose else "json"))
        if verbose:
            wanted = set(request.granularities())
            if request.response_format in _SUBTITLES:
                wanted.add(Granularity.SEGMENT)  # cue times
            if wanted != {Granularity.SEGMENT}:
                fields += [("timestamp_granularities[]", g.value) for g in sorted(wanted)]
        body = MultipartBody(fields, "file", request.file)
        return Upload(body, body.content_type)

    def decode_answer(self, body: bytes, content_type: str, request: TranscriptionRequest) -> Transcript:
        if not content_type.startswith("application/json"):  # a server answering text anyway
            text = body.decode("utf-8")
            return Transcript(text.strip(), native=body, native_type=content_type)
        answer = _Answer.model_validate_json(body)
        usage = Usage()
        said = answer.usage
        if said is not None:
            usage.input_tokens = said.input_tokens or 0
            usage.output_tokens = said.output_tokens or 0
            if said.type == "duration" and said.seconds:
                usage.audio_seconds = float(said.seconds)
        return Transcript(
            answer.text,
            language=answer.language or request.language,
            duration=answer.duration,
            segments=[
                Segment(s.start, s.end, s.text.strip(), _details(s.model_dump(exclude=set(_SEGMENT_FIELDS))))
                for s in answer.segments or ()
            ],
            words=[Word(w.word.strip(), w.start, w.end) for w in answer.words or ()],
            usage=usage,
            native=body,
            native_type=content_type,
        )

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_openai_error(body)


def _details(extra: dict[str, Any]) -> dict[str, Any] | None:
    extra.pop("id", None)  # numbered again when rendered
    return extra or None


OPENAI_TRANSCRIPTION = OpenAITranscription()
