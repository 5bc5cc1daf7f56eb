"""``GET /v1/audio/transcriptions/live``: live transcription over a WebSocket.

The caller opens a WebSocket with the session's options in the query (``model``: a route,
``<provider>/<model>`` or a provider instance, else ``DEFAULT_STT_PROVIDER``; ``language``,
``encoding``, ``sample_rate``, ``channels``, ``interim_results``, ``punctuate``, ``utterance_end_ms``,
``vad_events``, ``native``), sends audio in binary frames, and receives JSON text messages:

    {"type": "transcript", "is_final", "speech_final", "text", "confidence", "start", "duration",
     "channel", "words": [{"word", "start", "end", "confidence"}]}
    {"type": "speech_started", "timestamp", "channel"}      (vad_events)
    {"type": "utterance_end", "last_word_end", "channel"}   (utterance_end_ms)
    {"type": "metadata", "provider_request_id", "duration"}  (duration null when a session begins)
    {"type": "session_end", "reason": "closed" | "provider_closed" | "max_duration", "audio_seconds",
     "request_id", "provider", "model"}                     (last, before a 1000 close)
    {"type": "error", "error": {"code", "message", "provider"}, "request_id"}  (last, before an error close)

With ``native=true`` every provider message also carries the provider's own under ``native``. The
caller steers with text frames ``{"type": "finalize"}`` (final results for what was sent so far),
``{"type": "keepalive"}`` and ``{"type": "close"}`` (no more audio: the last results, ``session_end``,
then the gateway closes with 1000). A caller that closes its socket instead gets the same on the
provider's side (asked to close, its last results metered) but may not see them.

Keys: the ``Authorization`` header, or, for browsers (which cannot set headers on a WebSocket), the
subprotocol ``api-connector.key.<key>`` offered beside ``api-connector.live`` (the one the gateway
selects: the key is never sent back, and subprotocols are never logged). Everything checked before the
upgrade answers in HTTP (401, 403, 400, 404); what the pipeline refuses after it (limits, budgets,
every target failing before a transcript) closes the socket with 4000 + the HTTP status after an
``error`` message; a provider failing after a transcript closes it with 1011; a frame larger than
``LIVE_MAX_FRAME_BYTES`` with 1009. Every session leaves an audit row ``live.session``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from api_connector.api import openapi_schemas as s
from api_connector.api.context import call_for, parse_model
from api_connector.api.middleware import Routes
from api_connector.api.openapi_answers import Answer, Param
from api_connector.api.services import SERVICES, Services
from api_connector.capabilities.live_transcription import LIVE_TRANSCRIPTION, LiveRequest, LiveStream
from api_connector.capabilities.speech import speech_route
from api_connector.core.call import Call
from api_connector.core.capabilities import Capability
from api_connector.core.live import CallerAudio, Control, Encoding, LiveParams
from api_connector.errors import ConnectorError, NotFound, UpstreamError, ValidationFailed
from api_connector.pipeline.run import Run

PATH = "/v1/audio/transcriptions/live"
DEFAULT_SETTING = "DEFAULT_STT_PROVIDER"
SUBPROTOCOL = "api-connector.live"
# WebSocket pings to the caller, seconds apart: a caller gone without a close is noticed.
PING_SECONDS = 20.0
_CONTROLS = {
    "keepalive": Control.KEEPALIVE,
    "finalize": Control.FINALIZE,
    "close": Control.CLOSE,
    "closestream": Control.CLOSE,  # Deepgram's own names, for clients written against it
    "terminate": Control.CLOSE,  # AssemblyAI's own names, likewise
    "forceendpoint": Control.FINALIZE,
}


async def live(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    settings = services.settings
    params = _params(services, request)
    call = call_for(request, Capability.LIVE_TRANSCRIPTION)
    # The session's length bound is the call's deadline; a session is never kept as a dead letter.
    call = call._replace(deadline=call.started + settings.live_max_session_seconds, dead_letter=False)
    _check_route(services, call.project_id, params.model)
    socket = web.WebSocketResponse(
        protocols=(SUBPROTOCOL,), max_msg_size=settings.live_max_frame_bytes, heartbeat=PING_SECONDS, autoclose=False
    )
    if not socket.can_prepare(request).ok:
        raise ValidationFailed(f"{PATH} is a WebSocket: open it with an upgrade request")
    await socket.prepare(request)
    audio = CallerAudio(settings.live_replay_bytes)
    session = LiveRequest(params, audio, settings.live_max_frame_bytes, settings.live_keepalive_seconds)
    reader = asyncio.create_task(_read_caller(socket, audio))
    running = services.pipeline.run(call, LIVE_TRANSCRIPTION, session)
    outcome: dict[str, Any] = {}
    try:
        outcome = await _serve(socket, running, call)
    except ConnectorError as refused:  # before the first transcript: limits, budgets, every target failed
        outcome = await _close_with_error(socket, refused, call, 4000 + refused.with_status())
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await _audit(services, call, running.run, outcome)
    return socket


async def _serve(socket: web.WebSocketResponse, running: Any, call: Call) -> dict[str, Any]:
    """The session inside the pipeline's run: its messages to the caller, then its end."""
    async with running as run:
        stream = run.stream
        assert isinstance(stream, LiveStream)  # the capability's open always gives one
        try:
            async for batch in stream.batches():
                for message in batch:
                    await _say(socket, message)
        except UpstreamError as broke:
            return await _close_with_error(socket, broke, call, 1011)
        target = run.log.served_by
        end = {
            "type": "session_end",
            "reason": stream.end_reason,
            "audio_seconds": stream.usage.audio_seconds,
            "request_id": call.request_id,
            "provider": target.instance.name if target else None,
            "model": target.model if target else None,
        }
        await _say(socket, orjson.dumps(end))
        await socket.close(code=1000)
        return {"reason": stream.end_reason, "close_code": 1000}


async def _read_caller(socket: web.WebSocketResponse, audio: CallerAudio) -> None:
    """The caller's frames into the session, until it closes, leaves or says it has no more audio."""
    try:
        while True:
            message = await socket.receive()
            if message.type is WSMsgType.BINARY:
                if message.data:
                    await audio.put(message.data)
            elif message.type is WSMsgType.TEXT:
                control = _control(message.data)
                if control is None:
                    error = {
                        "code": "validation_error",
                        "message": 'a text frame must be {"type": "finalize" | '
                        '"keepalive" | "close"}; audio goes in binary frames',
                    }
                    await _say(socket, orjson.dumps({"type": "error", "error": error}))
                    continue
                await audio.put(control)
                if control is Control.CLOSE:
                    return
            else:  # its close, an error (a frame too large: aiohttp closes with 1009), the connection gone
                return
    except (ConnectionError, RuntimeError):
        return
    finally:
        if not audio.closed:
            with contextlib.suppress(asyncio.CancelledError):
                await audio.put(Control.CLOSE)  # no more audio: the provider is asked for its last results


def _control(text: str) -> Control | None:
    try:
        said = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    kind = said.get("type") if isinstance(said, dict) else None
    return _CONTROLS.get(kind.lower()) if isinstance(kind, str) else None


async def _say(socket: web.WebSocketResponse, message: bytes) -> None:
    """One message to the caller; a caller already gone is not an error (the session still ends cleanly)."""
    if socket.closed:
        return
    with contextlib.suppress(ConnectionError, RuntimeError):
        await socket.send_str(message.decode())


async def _close_with_error(
    socket: web.WebSocketResponse, error: ConnectorError, call: Call, code: int
) -> dict[str, Any]:
    body = {"code": error.code, "message": error.message, "provider": error.provider}
    await _say(socket, orjson.dumps({"type": "error", "error": body, "request_id": call.request_id}))
    with contextlib.suppress(ConnectionError, RuntimeError):
        await socket.close(code=code, message=error.code.encode()[:120])
    return {"reason": "error", "close_code": code, "error_code": error.code}


async def _audit(services: Services, call: Call, run: Run[Any, Any], outcome: dict[str, Any]) -> None:
    """One audit row per session: who transcribed what, where, how long, how it ended."""
    target = run.log.served_by
    usage = run.usage()
    pending = services.recorder.audit_soon(
        request_id=call.request_id,
        actor_key_id=call.key_id,
        project_id=call.project_id,
        action="live.session",
        target_type="provider",
        target_id=target.instance.name if target else None,
        outcome="failure" if outcome.get("reason", "error") == "error" else "success",
        details={
            "model": target.model if target else None,
            "audio_seconds": usage.audio_seconds,
            **outcome,
        },
    )
    if pending is not None:
        await pending


def _params(services: Services, request: web.Request) -> LiveParams:
    """The session's options from the query (each named at most once); no model: the default's."""
    query: dict[str, str] = {}
    for name, value in request.query.items():
        if name in query:
            raise ValidationFailed(f"{name}: given more than once", param=name)
        query[name] = value
    params = parse_model(LiveParams, dict(query))
    if params.model:
        return params
    default = services.settings.default_stt_provider.strip()
    if not default:
        raise ValidationFailed(
            f"no model given, and {DEFAULT_SETTING} is not set: name a model (a route, '<provider>/<model>' "
            "or a provider instance)",
            param="model",
        )
    return params.model_copy(update={"model": default})


def _check_route(services: Services, project_id: str, model: str) -> None:
    """Before the upgrade: a model that names nothing this project can use is a 404 in plain HTTP."""
    try:
        speech_route(services.catalog, project_id, model, Capability.LIVE_TRANSCRIPTION)
    except NotFound as missing:
        missing.message += f" (without a model, {DEFAULT_SETTING} is used)"
        raise


def setup(routes: Routes) -> None:
    routes.add_get(PATH, live)


# -- the OpenAPI document's entries (api.openapi) ------------------------------------------------------
def _q(name: str, schema: dict[str, Any], description: str) -> Param:
    return Param(name, "query", schema, description)


OPERATIONS = (("get", PATH, "Live transcription: a WebSocket, audio frames in, transcripts out", "inference", None),)
ANSWERS: dict[tuple[str, str], Answer] = {
    ("get", PATH): Answer(
        None,
        (400, 404),
        (
            _q("model", s.STR, "A route, '<provider>/<model>' or a provider instance (default: DEFAULT_STT_PROVIDER)"),
            _q("language", s.STR, "The spoken language (BCP-47), when known"),
            _q("encoding", s.enum(*Encoding), "Raw audio's encoding (omit for a container: WAV, Ogg, WebM)"),
            _q("sample_rate", s.INT, "Samples per second of raw audio (required with encoding)"),
            _q("channels", s.INT, "Channels (default 1)"),
            _q("interim_results", s.BOOL, "Interim transcripts before the final ones (default true)"),
            _q("punctuate", s.BOOL, "Punctuation and capitals (default true)"),
            _q("utterance_end_ms", s.INT, "Silence in ms after which an utterance_end message comes (1000-5000)"),
            _q("vad_events", s.BOOL, "A speech_started message when speech begins"),
            _q("native", s.BOOL, "Each message also carries the provider's own under 'native'"),
        ),
        media=(),
    ),
}
