"""AssemblyAI's pre-recorded transcription: a job of three requests in one attempt.

1. ``POST /v2/upload``: the audio itself as the body (streamed from the upload); the answer names its
   ``upload_url``, a private URL of AssemblyAI's own.
2. ``POST /v2/transcript`` (the endpoint's path): ``{audio_url, speech_model, language_code}`` (or
   ``language_detection: true`` without a language, and ``punctuate`` / ``format_text`` on); the answer
   is the transcript object, ``queued``.
3. ``GET /v2/transcript/{id}``, polled with a bounded backoff within the call's deadline
   (``capabilities.steps``) until its ``status`` is ``completed`` (the transcript) or ``error`` (its
   ``error`` is the vendor's failure, a 400: it is about the file, a retry would fail the same way).

The transcript's ``text`` is the text, its ``words`` (times in milliseconds) the words, segments are
made of them one sentence at a time, ``language_code`` the language and ``audio_duration`` (seconds)
the duration the call is metered by. OpenAI's ``prompt`` and ``temperature`` have no counterpart
and are not sent (hints); form fields beyond OpenAI's shape are AssemblyAI's own options and are
sent in the submission, read as JSON when they are (``speaker_labels=true``, ``keyterms_prompt=[...]``).
Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.core.exchange import Inbound, Outbound
from api_connector.core.transcription import Transcript, TranscriptionRequest, Word
from api_connector.core.usage import Usage
from api_connector.wire.base import Follow, VendorError, VendorFailed
from api_connector.wire.transcription import Upload, sentences

UPLOAD_PATH = "/v2/upload"
TRANSCRIPT_PATH = "/v2/transcript"  # the provider's endpoint: submissions, and polls below it
FIRST_POLL = 0.5  # seconds before the first poll; later ones back off up to LONGEST_POLL
LONGEST_POLL = 3.0  # AssemblyAI's guides poll every 3 s
_JSON = {"content-type": "application/json", "accept": "application/json"}
_RUNNING = ("queued", "processing")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Uploaded(_Lenient):
    upload_url: str


class _Word(_Lenient):
    text: str
    start: float
    end: float


class TranscriptJob(_Lenient):
    id: str
    status: str
    text: str | None = None
    words: list[_Word] | None = None
    language_code: str | None = None
    audio_duration: float | None = None
    error: str | None = None


class _Error(_Lenient):
    error: str


def _option(value: str) -> Any:
    """A form field's value as AssemblyAI's JSON takes it: JSON when it is (true, 3, [...]), else text."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def submission(request: TranscriptionRequest, upstream_model: str, audio_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {"audio_url": audio_url, "speech_model": upstream_model, "punctuate": True,
                            "format_text": True}
    if request.language:
        body["language_code"] = request.language
    else:
        body["language_detection"] = True
    body.update((name, _option(value)) for name, value in request.extras.items() if name != "audio_url")
    return body


class AssemblyAITranscript:
    name = "assemblyai_transcript"
    stepped = True  # the transcription capability runs start / advance (wire.transcription)

    def encode_request(self, request: TranscriptionRequest, upstream_model: str) -> Upload:
        """The first request's body: the audio as it is (AssemblyAI reads its format itself)."""
        return Upload(request.file, "application/octet-stream")

    def start(self, request: TranscriptionRequest, upstream_model: str, path: str) -> Outbound:
        upload = self.encode_request(request, upstream_model)
        # The submission goes to the endpoint's path (TRANSCRIPT_PATH) once the upload has answered.
        return Outbound(UPLOAD_PATH, upload.body, {"content-type": upload.content_type, "accept": "application/json"})

    def advance(self, request: TranscriptionRequest, upstream_model: str, answer: Inbound) -> Follow | Transcript:
        raw = orjson.loads(answer.body)
        if isinstance(raw, dict) and "upload_url" in raw:
            uploaded = _Uploaded.model_validate(raw)
            body = orjson.dumps(submission(request, upstream_model, uploaded.upload_url))
            return Follow(Outbound(TRANSCRIPT_PATH, body, dict(_JSON)))
        job = TranscriptJob.model_validate(raw)
        if job.status == "completed":
            return self.decode_answer(answer.body, answer.headers.get("content-type", "application/json"), request)
        if job.status == "error":
            # A failed transcript is about the file (it could not be fetched, decoded or heard): the same
            # upload would fail again, so it is the caller's 400, not a failure to retry elsewhere.
            said = job.error or "the transcript ended in error"
            raise VendorFailed(VendorError(said, type="transcript_error", status=400))
        if job.status not in _RUNNING:
            raise ValueError(f"a transcript of unknown status {job.status!r}")
        poll = Outbound(f"{TRANSCRIPT_PATH}/{job.id}", method="GET", headers={"accept": "application/json"})
        return Follow(poll, wait=FIRST_POLL, longest=LONGEST_POLL)

    def decode_answer(self, body: bytes, content_type: str, request: TranscriptionRequest) -> Transcript:
        job = TranscriptJob.model_validate_json(body)
        if job.status != "completed":
            raise ValueError("the transcript has not completed")
        words = [Word(w.text, w.start / 1000, w.end / 1000) for w in job.words or []]
        return Transcript(
            (job.text or "").strip(),
            language=job.language_code or request.language,
            duration=job.audio_duration,
            segments=sentences(words, [w.word for w in words]) if words else [],
            words=words,
            usage=Usage(audio_seconds=job.audio_duration or 0.0),
            native=body,
            native_type=content_type,
        )

    def decode_error(self, body: bytes) -> VendorError | None:
        try:
            return VendorError(_Error.model_validate_json(body).error)
        except ValidationError:
            return None


ASSEMBLYAI_TRANSCRIPT = AssemblyAITranscript()
