"""ElevenLabs speech-to-text, ``POST /v1/speech-to-text``: a multipart form (``model_id``, ``file``,
``language_code``, word timestamps), the upload streamed inside it.

The answer's ``words`` hold words, the spaces between them and audio events (laughter, ...), each
timed: the words are the words, and segments are made of them one sentence at a time (ElevenLabs
times no segments). It names the language as ISO 639-3 (``eng``) and says nothing of the duration:
the file's header (or the last word's end) gives it. ``prompt`` has no ElevenLabs counterpart and is
not sent (a hint); ``temperature`` is. Form fields beyond OpenAI's shape (``diarize``, ``tag_audio_events``,
...) are passed on as form fields. Errors are ElevenLabs' ``detail`` body, read like its speech answers'.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from api_connector.core.transcription import Transcript, TranscriptionRequest, Word
from api_connector.wire.base import VendorError
from api_connector.wire.elevenlabs_speech import decode_error
from api_connector.wire.multipart import MultipartBody
from api_connector.wire.transcription import Upload, sentences


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Word(_Lenient):
    text: str
    start: float | None = None
    end: float | None = None
    type: str = "word"


class _Answer(_Lenient):
    text: str
    language_code: str | None = None
    words: list[_Word] = []


@dataclass(frozen=True, slots=True)
class ElevenLabsTranscription:
    name: str = "elevenlabs_stt"

    def encode_request(self, request: TranscriptionRequest, upstream_model: str) -> Upload:
        fields = [("model_id", upstream_model), ("timestamps_granularity", "word")]
        if request.language:
            fields.append(("language_code", request.language))
        if request.temperature is not None:
            fields.append(("temperature", f"{request.temperature:g}"))
        fields += [(name, value) for name, value in request.extras.items() if name not in ("model_id", "file")]
        body = MultipartBody(fields, "file", request.file)
        return Upload(body, body.content_type)

    def decode_answer(self, body: bytes, content_type: str, request: TranscriptionRequest) -> Transcript:
        answer = _Answer.model_validate_json(body)
        timed = [w for w in answer.words if w.type == "word" and w.start is not None and w.end is not None]
        words = [Word(w.text.strip(), w.start or 0.0, w.end or 0.0) for w in timed]
        return Transcript(
            answer.text.strip(),
            language=answer.language_code or request.language,
            segments=sentences(words, [w.word for w in words]) if words else [],
            words=words,
            native=body,
            native_type=content_type,
        )

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_error(body)


ELEVENLABS_STT = ElevenLabsTranscription()
