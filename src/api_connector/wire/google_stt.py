"""Google Cloud Speech-to-Text v2 ``recognize``: the audio as base64 inside the JSON request.

The request is ``{config: {autoDecodingConfig: {}, languageCodes, model, features}, content}``: Google
reads the file's format from its header, the caller's language is the one language code (``en-US``
when it names none: the ``long`` and ``short`` models need one), word times and punctuation are asked
for. The body is written as it is sent (``Base64Json``): the upload is encoded piece by piece, never
held whole. Synchronous recognition takes at most 10 MB of audio and one minute of it: a larger file
is refused with 413, a longer one (as its header says) with 400, before anything is sent.

The answer's ``results`` are consecutive stretches of the audio: each one's best alternative is a
segment (from where the one before ended to its ``resultEndOffset``), its ``words`` are the words
(``startOffset`` / ``endOffset`` are protobuf durations, "1.300s"), the texts joined are the text, and
``metadata.totalBilledDuration`` is what the call is metered by. Form fields beyond OpenAI's shape
are recognition features (``profanityFilter=true``, ``enableSpokenPunctuation=true``) and are added
to ``features``. OpenAI's ``prompt`` and ``temperature`` have no counterpart and are not sent. Errors
are ``google.rpc.Status``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from api_connector.core.transcription import AudioUpload, Segment, Transcript, TranscriptionRequest, Word
from api_connector.core.usage import Usage
from api_connector.errors import AudioTooLarge, ValidationFailed
from api_connector.wire.base import VendorError
from api_connector.wire.google_errors import decode_google_error, protobuf_seconds
from api_connector.wire.transcription import Upload

MAX_BYTES = 10 * 1024 * 1024  # synchronous recognition's content limit
MAX_SECONDS = 60.0  # and its audio length limit
DEFAULT_LANGUAGE = "en-US"
_MARK = b"\x00content\x00"  # where the audio goes in the serialised request


class Base64Json:
    """A JSON body with one string field made of an upload's bytes in base64, encoded as it is sent."""

    __slots__ = ("_head", "_tail", "_upload")

    def __init__(self, envelope: dict[str, Any], upload: AudioUpload) -> None:
        # The envelope is serialised with a marker as the field's value, then cut around it.
        head, _, tail = orjson.dumps(envelope).partition(orjson.dumps(_MARK.decode()))
        self._head = head + b'"'
        self._tail = b'"' + tail
        self._upload = upload

    @property
    def size(self) -> int:
        return len(self._head) + 4 * -(-self._upload.size // 3) + len(self._tail)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._head
        left = b""  # bytes short of a multiple of three, kept for the next piece
        async for piece in self._upload.chunks():
            piece = left + piece
            whole = len(piece) - len(piece) % 3
            left = piece[whole:]
            if whole:
                yield base64.b64encode(piece[:whole])
        yield base64.b64encode(left) + self._tail


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Word(_Lenient):
    word: str
    start_offset: str | None = Field(None, alias="startOffset")
    end_offset: str | None = Field(None, alias="endOffset")


class _Alternative(_Lenient):
    transcript: str = ""
    words: list[_Word] = []


class _Result(_Lenient):
    alternatives: list[_Alternative] = []
    result_end_offset: str | None = Field(None, alias="resultEndOffset")
    language_code: str | None = Field(None, alias="languageCode")


class _Metadata(_Lenient):
    total_billed_duration: str | None = Field(None, alias="totalBilledDuration")


class _Answer(_Lenient):
    results: list[_Result] = []
    metadata: _Metadata = Field(default_factory=_Metadata)


def _feature(value: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


@dataclass(frozen=True, slots=True)
class GoogleSTT:
    name: str = "google_stt"

    def encode_request(self, request: TranscriptionRequest, upstream_model: str) -> Upload:
        upload = request.file
        if upload.size > MAX_BYTES:
            raise AudioTooLarge(
                f"Google's synchronous recognition takes at most {MAX_BYTES} bytes of audio; "
                f"the file has {upload.size}", param="file",
            )
        seconds = upload.duration()
        if seconds is not None and seconds > MAX_SECONDS:
            raise ValidationFailed(
                f"Google's synchronous recognition takes at most {MAX_SECONDS:g} seconds of audio; "
                f"the file has {seconds:g}", param="file",
            )
        features: dict[str, Any] = {"enableWordTimeOffsets": True, "enableAutomaticPunctuation": True}
        features.update((name, _feature(value)) for name, value in request.extras.items())
        config = {
            "autoDecodingConfig": {},
            "languageCodes": [request.language or DEFAULT_LANGUAGE],
            "model": upstream_model,
            "features": features,
        }
        body = Base64Json({"config": config, "content": _MARK.decode()}, upload)
        return Upload(body, "application/json")

    def decode_answer(self, body: bytes, content_type: str, request: TranscriptionRequest) -> Transcript:
        answer = _Answer.model_validate_json(body)
        segments: list[Segment] = []
        words: list[Word] = []
        language = None
        start = 0.0
        for result in answer.results:
            end = protobuf_seconds(result.result_end_offset)
            if not result.alternatives:
                start = end if end is not None else start
                continue
            best = result.alternatives[0]
            timed = [
                Word(w.word, protobuf_seconds(w.start_offset) or 0.0, protobuf_seconds(w.end_offset) or 0.0)
                for w in best.words
            ]
            words += timed
            finish = end if end is not None else (timed[-1].end if timed else start)
            if best.transcript.strip():
                segments.append(Segment(timed[0].start if timed else start, finish, best.transcript.strip()))
            language = language or result.language_code
            start = finish
        billed = protobuf_seconds(answer.metadata.total_billed_duration)
        return Transcript(
            " ".join(segment.text for segment in segments),
            language=language or request.language,
            segments=segments,
            words=words,
            usage=Usage(audio_seconds=billed or 0.0),
            native=body,
            native_type=content_type,
        )

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_google_error(body)


GOOGLE_STT = GoogleSTT()
