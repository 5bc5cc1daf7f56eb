"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``: OpenAI's multipart form in, the
transcript out in the format asked for (json, text, srt, vtt, verbose_json, or ``provider``: the
vendor's own answer as it came, with its content type).

The form is read as it arrives: text fields (each at most 64 KiB) into the typed form, the file
piece by piece into an ``AudioUpload`` (memory up to 1 MiB, a temporary file beyond), refused with
413 ``audio_too_large`` as soon as it passes ``MAX_AUDIO_BYTES`` (or at once when the declared length
already does). A request without a model goes to ``DEFAULT_STT_PROVIDER``, checked only then.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import BadHttpMessage
from pydantic import BaseModel, ConfigDict, Field

from api_connector.api import openapi_schemas as s
from api_connector.api.context import call_for, parse_model
from api_connector.api.middleware import Routes
from api_connector.api.openapi_answers import _CHAT_PARAMS, _V1, Answer
from api_connector.api.services import SERVICES
from api_connector.api.speech_routes import check_default, default_model
from api_connector.capabilities.transcription import TRANSCRIPTION, TRANSLATION, TranscriptionCapability
from api_connector.core.transcription import (
    AudioUpload,
    Granularity,
    TranscriptFormat,
    TranscriptionRequest,
)
from api_connector.errors import AudioTooLarge, ValidationFailed
from api_connector.wire.form_reader import Event, FormReader, PartData, PartStart
from api_connector.wire.transcript_render import JSON, TEXT, VTT, render

DEFAULT_SETTING = "DEFAULT_STT_PROVIDER"
_FIELD_BYTES = 64 * 1024
_FORM_SLACK = 256 * 1024  # what the text fields and the multipart framing may add to the file's size


class TranscriptionForm(BaseModel):
    """The form's text fields (the ``file`` part is read apart); other fields are passed to the vendor."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    model: str | None = Field(None, max_length=256)
    language: str | None = Field(None, min_length=1, max_length=64)
    prompt: str | None = Field(None, max_length=16_384)
    response_format: TranscriptFormat = TranscriptFormat.JSON
    # The SDK sends each value as its own "timestamp_granularities[]" field.
    timestamp_granularities: list[Granularity] = Field(default_factory=list, alias="timestamp_granularities[]")
    temperature: float | None = Field(None, ge=0, le=1)


async def transcriptions(request: web.Request) -> web.Response:
    return await _transcribe(request, TRANSCRIPTION)


async def translations(request: web.Request) -> web.Response:
    return await _transcribe(request, TRANSLATION)


async def _transcribe(request: web.Request, spec: TranscriptionCapability) -> web.Response:
    services = request.app[SERVICES]
    limit = services.settings.max_audio_bytes
    if request.content_length is not None and request.content_length > limit + _FORM_SLACK:
        raise AudioTooLarge(f"the audio file exceeds the limit of {limit} bytes (MAX_AUDIO_BYTES)")
    if not request.content_type.startswith("multipart/form-data"):
        raise ValidationFailed("send the audio as multipart/form-data with a 'file' part", param="file")
    fields, upload = await _read_form(request, limit)
    try:
        if upload is None:
            raise ValidationFailed("file: the form has no audio file", param="file")
        form = parse_model(TranscriptionForm, fields)
        defaulted = not form.model
        model = form.model or default_model(DEFAULT_SETTING, services.settings.default_stt_provider)
        call = call_for(request, spec.capability)
        if defaulted:
            check_default(services, call.project_id, model, DEFAULT_SETTING, spec.capability)
        asked = TranscriptionRequest(
            model,
            upload,
            language=form.language,
            prompt=form.prompt,
            response_format=form.response_format,
            timestamp_granularities=tuple(dict.fromkeys(form.timestamp_granularities)),
            temperature=form.temperature,
            translate=spec is TRANSLATION,
            extras={name: str(value) for name, value in (form.model_extra or {}).items()},
        )
        async with services.pipeline.run(call, spec, asked) as run:
            assert run.result is not None
            task = "translate" if asked.translate else "transcribe"
            content_type, body = render(run.result, asked.response_format, asked.granularities(), task)
        return web.Response(body=body, headers={"Content-Type": content_type, "x-request-id": call.request_id})
    finally:
        if upload is not None:
            upload.close()


async def _read_form(request: web.Request, limit: int) -> tuple[dict[str, Any], AudioUpload | None]:
    """The text fields (a repeated name gathers a list) and the file, read as they arrive."""
    form = _Form(limit)
    try:
        reader = FormReader(parse_mimetype(request.headers.get("Content-Type", "")).parameters.get("boundary", ""))
        # iter_chunks, not iter_any: the pieces as the server received them, never joined into one.
        async for data, _ in request.content.iter_chunks():
            for event in reader.feed(data):
                form.take(event)
            if reader.done:  # the epilogue, if any, is left to the server to drain
                break
        reader.close()
    except (ValueError, BadHttpMessage) as exc:  # a malformed form, or aiohttp's parser on the body
        if form.upload is not None:
            form.upload.close()
        raise ValidationFailed(f"the multipart form is malformed ({type(exc).__name__})", param="file") from None
    except BaseException:
        if form.upload is not None:
            form.upload.close()
        raise
    return form.fields, form.upload


class _Form:
    """The form's parts as the reader finds them: the first ``file`` part spooled into an upload (refused
    as soon as it passes the limit), other named parts gathered as text (each at most 64 KiB)."""

    __slots__ = ("_audio", "_limit", "_name", "_text", "fields", "upload")

    def __init__(self, limit: int) -> None:
        self.fields: dict[str, Any] = {}
        self.upload: AudioUpload | None = None
        self._limit = limit
        self._audio: AudioUpload | None = None  # the upload while its part is read
        self._name = ""  # the text part being read
        self._text: bytearray | None = None  # its bytes so far (None: no text part is being read)

    def take(self, event: Event) -> None:
        if type(event) is PartData:
            if self._audio is not None:
                self._add_audio(self._audio, event.data)
            elif self._text is not None:
                self._add_text(event.data)
        elif type(event) is PartStart:
            self._start(event)
        else:
            self._end()

    def _start(self, part: PartStart) -> None:
        if part.content_type.lower().startswith("multipart/"):
            raise ValidationFailed("a nested multipart part is not taken", param="file")
        if part.name == "file" and self.upload is None:
            self.upload = self._audio = AudioUpload(part.filename or "audio", part.content_type)
        elif part.name:
            self._name, self._text = part.name, bytearray()

    def _add_audio(self, upload: AudioUpload, data: bytes) -> None:
        if upload.size + len(data) > self._limit:
            raise AudioTooLarge(f"the audio file exceeds the limit of {self._limit} bytes (MAX_AUDIO_BYTES)")
        upload.write(data)

    def _add_text(self, data: bytes) -> None:
        assert self._text is not None
        self._text += data
        if len(self._text) > _FIELD_BYTES:
            raise ValidationFailed(f"{self._name}: a form field holds at most {_FIELD_BYTES} bytes", param=self._name)

    def _end(self) -> None:
        name, text = self._name, self._text
        self._audio, self._text = None, None
        if text is None:
            return
        try:
            value = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed(f"{name}: not UTF-8 text", param=name) from None
        if name.endswith("[]") or name in self.fields:
            previous = self.fields.get(name, [])
            self.fields[name] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            self.fields[name] = value


def setup(routes: Routes) -> None:
    routes.add_post("/v1/audio/transcriptions", transcriptions)
    routes.add_post("/v1/audio/translations", translations)


# -- the OpenAPI document's entries (api.openapi) ------------------------------------------------------
OPERATIONS = (
    (
        "post",
        "/v1/audio/transcriptions",
        "Text from speech (OpenAI-compatible multipart form; json, text, srt, vtt, verbose_json, or provider: "
        "the vendor's own answer)",
        "inference",
        TranscriptionForm,
    ),
    (
        "post",
        "/v1/audio/translations",
        "English text from speech in any language (OpenAI-compatible multipart form)",
        "inference",
        TranscriptionForm,
    ),
)
_WORD = s.obj({"word": s.STR, "start": s.NUM, "end": s.NUM})
_SEGMENT = s.obj({"id": s.INT, "start": s.NUM, "end": s.NUM, "text": s.STR})
_USAGE = s.obj({"type": s.STR, "seconds": s.NUM})
# Nothing is required: with response_format=provider the JSON is the vendor's own answer.
TRANSCRIPT = s.obj(
    {},
    {
        "text": s.STR,
        "task": s.STR,
        "language": s.nullable(s.STR),
        "duration": s.NUM,
        "segments": s.arr(_SEGMENT),
        "words": s.arr(_WORD),
        "usage": _USAGE,
    },
)
ANSWERS: dict[tuple[str, str], Answer] = {
    ("post", path): Answer(TRANSCRIPT, _V1, _CHAT_PARAMS, media=(JSON, TEXT.split(";")[0], VTT.split(";")[0]))
    for _, path, *_ in OPERATIONS
}
