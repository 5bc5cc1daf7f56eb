"""Speech-to-text: OpenAI's ``audio/transcriptions`` (and ``audio/translations``) form in, any provider's
transcription wire out, the answer read into one ``Transcript``.

One attempt streams the upload to the target inside the wire's request (``core.exchange.BodyStream``:
read again from its start for a retry or the next target, never held whole) and reads the vendor's
answer whole. Translation into English is the same declaration under its own capability, so routing
passes over targets that only transcribe.

Metered in audio seconds: what the vendor says it billed, else the duration it reports, else what
the file's header says, else where the last timed word ends; a vendor that bills tokens
(gpt-4o-transcribe) has its tokens metered too. Transcripts are text: secrets known to the gateway
are masked in them like in any text answer. Cached only when the caller asks (the key holds the
audio's SHA-256 and every field). A dead letter keeps the fields and, when the file is small enough
to keep in a row (``DEAD_LETTER_AUDIO_BYTES``), the audio; a larger one is kept without it and its
replay is refused, saying why.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar, cast

import orjson

from api_connector.capabilities.base import CapabilitySpec, endpoint_of, wire_failure
from api_connector.capabilities.speech import speech_route
from api_connector.capabilities.steps import run_steps
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Outbound
from api_connector.core.transcription import (
    AudioUpload,
    Granularity,
    Segment,
    Transcript,
    TranscriptFormat,
    TranscriptionRequest,
    Word,
)
from api_connector.core.usage import Usage
from api_connector.errors import UpstreamProtocolError, ValidationFailed
from api_connector.observability.payloads import PayloadBody
from api_connector.observability.redaction import Redactor
from api_connector.providers.spec import Endpoint
from api_connector.routing.catalog import Catalog, Route
from api_connector.routing.classify import classify_vendor_error
from api_connector.routing.exchange import Exchange
from api_connector.wire.base import Follow, VendorFailed
from api_connector.wire.transcript_render import render
from api_connector.wire.transcription import SteppedTranscriptionWire, TranscriptionWire

# Uploads up to this size are kept with a dead letter (base64 in its row) so that it can be replayed.
DEAD_LETTER_AUDIO_BYTES = 1024 * 1024


class TranscriptionCapability(CapabilitySpec[TranscriptionRequest, Transcript]):
    capability: ClassVar[Capability] = Capability.TRANSCRIPTION
    kind: ClassVar[str] = "transcription"

    def route(self, catalog: Catalog, project_id: str, request: TranscriptionRequest) -> Route:
        return speech_route(catalog, project_id, request.model, self.capability)

    def usage(self, result: Transcript) -> Usage:
        return result.usage

    def cache_material(self, request: TranscriptionRequest) -> Any:
        return [request.fields(), request.file.sha256, request.file.size]

    def dump_result(self, result: Transcript) -> bytes:
        return orjson.dumps(
            {
                "text": result.text,
                "language": result.language,
                "duration": result.duration,
                "segments": [[s.start, s.end, s.text, s.details] for s in result.segments],
                "words": [[w.word, w.start, w.end] for w in result.words],
                "native": base64.b64encode(result.native).decode("ascii"),
                "native_type": result.native_type,
            }
        )

    def load_result(self, raw: bytes, usage: Usage) -> Transcript:
        kept = orjson.loads(raw)
        return Transcript(
            kept["text"],
            language=kept["language"],
            duration=kept["duration"],
            segments=[Segment(start, end, text, details) for start, end, text, details in kept["segments"]],
            words=[Word(word, start, end) for word, start, end in kept["words"]],
            usage=usage,
            native=base64.b64decode(kept["native"]),
            native_type=kept["native_type"],
        )

    async def fetch(self, request: TranscriptionRequest, exchange: Exchange) -> Transcript:
        target = exchange.target
        endpoint = endpoint_of(target, self.capability)
        wire = cast(TranscriptionWire, endpoint.wire)  # a transcription endpoint declares such a wire
        if getattr(wire, "stepped", False):  # a job: upload, submit, poll (not isinstance: a Protocol check costs)
            job = cast(SteppedTranscriptionWire, wire)
            transcript = await _job(request, exchange, endpoint.path_for(target.model), job)
        else:
            transcript = await _one_request(request, exchange, endpoint, wire)
        usage = transcript.usage
        if not usage.audio_seconds:
            usage.audio_seconds = transcript.duration or request.file.duration() or transcript.spoken_seconds()
        if transcript.duration is None:
            transcript.duration = request.file.duration()
        return transcript

    def scrub(self, result: Transcript, redactor: Redactor) -> Transcript:
        raw = self.dump_result(result)
        masked = redactor.scrub_body(raw)
        if masked is raw:  # a new result only when something was masked: a shared answer stays shared
            return result
        native = redactor.scrub_body(result.native)
        scrubbed = self.load_result(masked, result.usage)
        scrubbed.native = native
        return scrubbed

    def answer_json(self, result: Transcript) -> tuple[int, Any]:
        task = "translate" if self.capability is Capability.TRANSLATION else "transcribe"
        everything = frozenset((Granularity.SEGMENT, Granularity.WORD))
        _, body = render(result, TranscriptFormat.VERBOSE_JSON, everything, task)
        return 200, orjson.loads(body)

    def audit_request(self, request: TranscriptionRequest) -> PayloadBody:
        # The audio is never kept (nor read again: its spool may be gone): the form's other fields, the
        # file's name and type, and the upload's size.
        upload = request.file
        described = {"filename": upload.filename, "content_type": upload.content_type, "bytes": upload.size}
        return PayloadBody("multipart/form-data", {"fields": request.fields(), "file": described}, upload.size)

    def dead_letter(self, request: TranscriptionRequest) -> tuple[str, dict[str, Any]]:
        upload = request.file
        kept = upload.size <= DEAD_LETTER_AUDIO_BYTES
        return request.model, {
            "fields": request.fields(),
            "file": {
                "filename": upload.filename,
                "content_type": upload.content_type,
                "bytes": upload.size,
                "audio": base64.b64encode(upload.read_all()).decode("ascii") if kept else None,
            },
        }

    def from_dead_letter(self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]) -> TranscriptionRequest:
        try:
            fields, file = payload["fields"], payload["file"]
            if file["audio"] is None:
                raise ValidationFailed(
                    f"the audio ({file['bytes']} bytes) was larger than a dead letter keeps "
                    f"({DEAD_LETTER_AUDIO_BYTES} bytes): send the request again with the file"
                )
            upload = AudioUpload.of(base64.b64decode(file["audio"]), file["filename"], file["content_type"])
            return TranscriptionRequest(
                fields["model"],
                upload,
                language=fields["language"],
                prompt=fields["prompt"],
                response_format=TranscriptFormat(fields["response_format"]),
                timestamp_granularities=tuple(Granularity(g) for g in fields["timestamp_granularities"]),
                temperature=fields["temperature"],
                translate=fields["translate"],
                extras=dict(fields["extras"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed(f"the stored request is no longer valid: {type(exc).__name__}") from None


async def _one_request(
    request: TranscriptionRequest, exchange: Exchange, endpoint: Endpoint, wire: TranscriptionWire
) -> Transcript:
    target = exchange.target
    upload = wire.encode_request(request, target.model)  # ValidationFailed: passed over
    headers = {"content-type": upload.content_type, "accept": "application/json"}
    query = {**endpoint.query, **upload.query}
    path = endpoint.path_for(target.model)
    answer = await exchange.send(Outbound(path, upload.body, headers, query=query or None))
    if not 200 <= answer.status < 300:
        raise wire_failure(answer, wire, target)
    content_type = answer.headers.get("content-type", "application/json")
    try:
        return wire.decode_answer(answer.body, content_type, request)
    except VendorFailed as failed:  # a 2xx answer that reports a failure (Azure's RecognitionStatus "Error")
        raise classify_vendor_error(failed.error, provider=target.instance.name) from None
    except ValueError as exc:  # pydantic's ValidationError and bad UTF-8 included
        raise UpstreamProtocolError(
            f"upstream answered with a body that is not a transcript ({type(exc).__name__})",
            provider=target.instance.name,
        ) from None


async def _job(
    request: TranscriptionRequest, exchange: Exchange, path: str, wire: SteppedTranscriptionWire
) -> Transcript:
    model = exchange.target.model
    first = Follow(wire.start(request, model, path))
    step = await run_steps(exchange, wire, first, lambda answer: wire.advance(request, model, answer))
    if isinstance(step, Follow):
        provider = exchange.target.instance.name
        raise UpstreamProtocolError("upstream offered a stream for a transcript", provider=provider)
    return step


class TranslationCapability(TranscriptionCapability):
    """Speech in any language to English text: OpenAI's ``audio/translations``, a capability of its own
    because few providers offer it."""

    capability: ClassVar[Capability] = Capability.TRANSLATION
    kind: ClassVar[str] = "translation"


TRANSCRIPTION = TranscriptionCapability()
TRANSLATION = TranslationCapability()
