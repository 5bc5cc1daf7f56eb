"""The OpenAI-compatible routes: ``POST /v1/chat/completions`` (JSON and SSE) and ``GET /v1/models``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from api_connector.api.context import call_context, parse_model, read_json
from api_connector.api.middleware import Routes
from api_connector.api.render import json_response, openai_error_body, raw_json_response
from api_connector.api.services import REQUEST_ID, SERVICES, STARTED, Services
from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.errors import ConnectorError, UpstreamError
from api_connector.governance.flow import Tap, chat_engaged, governed_chat
from api_connector.observability.logging import get_logger
from api_connector.routing.admission import PRIORITY_HEADER, parse_priority
from api_connector.routing.dispatch import CallContext, ChatStream
from api_connector.wire.sse import DONE_FRAME, frame, frames

log = get_logger("api_connector.chat")
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def chat_completions(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    if services.routing is None:
        return await _chat_completions(request, services)
    # Admission control: counted from here to the end of the answer (a stream's included).
    admission = services.routing.admission
    admission.enter(parse_priority(request.headers.get(PRIORITY_HEADER)))
    try:
        return await _chat_completions(request, services)
    finally:
        admission.leave()


async def _chat_completions(request: web.Request, services: Services) -> web.StreamResponse:
    started = request[STARTED]
    body = await read_json(request)
    if "model" not in body:
        # Callers that leave the model out get the operator's default (DEFAULT_OPENAI_MODEL).
        body["model"] = services.settings.default_openai_model
    chat = parse_model(ChatRequest, body)
    ctx = call_context(request, Capability.CHAT)
    if chat_engaged(services.governance, request, chat):
        # Limits, budgets, cache or coalescing asked for: governance wraps the same two paths.
        def streamer(c: CallContext, r: ChatRequest, tap: Tap) -> Awaitable[web.StreamResponse]:
            return _stream_chat(request, services, c, r, started, tap)

        return await governed_chat(request, services, ctx, chat, started, streamer)
    if chat.stream:
        return await _stream_chat(request, services, ctx, chat, started)
    try:
        result = await services.dispatcher.chat(ctx, chat)
    except ConnectorError as error:
        await services.recorder.finish(ctx, started=started, error=error)
        raise
    await services.recorder.finish(ctx, started=started, usage=result.usage)
    return raw_json_response(services.redactor.scrub_body(result.body))


async def _stream_chat(
    request: web.Request,
    services: Services,
    ctx: CallContext,
    chat: ChatRequest,
    started: float,
    tap: Tap | None = None,
) -> web.StreamResponse:
    try:
        stream: ChatStream = await services.dispatcher.chat_stream(ctx, chat)
    except ConnectorError as error:
        # Nothing was sent yet: the caller gets an ordinary error answer.
        await services.recorder.finish(ctx, started=started, error=error)
        raise
    response = web.StreamResponse(headers={**_SSE_HEADERS, "x-request-id": request[REQUEST_ID]})
    if tap is not None:
        response.headers.update(tap.headers)  # the caller's x-ratelimit-*, before the first byte
    failure: ConnectorError | None = None
    # Once upstream has said it is done nothing is worth waiting for: the rest goes out in one write
    # with the end of the stream (fewer system calls and chunk frames for short answers).
    held = b""
    try:
        await response.prepare(request)
        scrub = services.redactor.scrub_body
        state = stream.translator.state
        async for payloads in stream.batches():
            # One scrub over the read's frames together: a secret never spans two JSON payloads.
            framed = frames(payloads)
            data = scrub(framed)
            if tap is not None:
                data = _tap_clean(tap, scrub, payloads, framed, data)
            if state.done:
                held += data
            else:
                await response.write(data)
        if tap is not None:
            tap(None, state.usage)  # complete: only now may it be cached
        await response.write_eof(held + DONE_FRAME)
    except UpstreamError as error:
        # Bytes already reached the client: end the stream with a clean error event, never half JSON.
        failure = error
        log.warning("stream broke after the first byte", code=error.code, provider=error.provider)
        body = orjson.dumps(openai_error_body(error, services.redactor))
        await _write_quietly(response, held + frame(body) + DONE_FRAME)
    except (ConnectionResetError, asyncio.CancelledError):
        failure = ConnectorError("client went away during the stream")
        stream.close()
        raise
    finally:
        await services.recorder.finish(ctx, started=started, usage=stream.translator.state.usage, error=failure)
    return response


def _tap_clean(tap: Tap, scrub: Callable[[bytes], bytes], payloads: list[bytes], framed: bytes, data: bytes) -> bytes:
    """Hand the tap what the caller sees (the cache keeps it); returns the bytes for the caller.

    Almost always the scrub of the whole read changed nothing and the payloads go as they are; a
    read that held a secret is scrubbed payload by payload, so the tap gets each payload clean.
    """
    if data == framed:
        tap(payloads, None)
        return data
    clean = [scrub(payload) for payload in payloads]
    tap(clean, None)
    return frames(clean)


async def _write_quietly(response: web.StreamResponse, data: bytes) -> None:
    with contextlib.suppress(ConnectionResetError):
        await response.write(data)


async def list_models(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    ctx = call_context(request, Capability.CHAT)
    created = int(time.time())
    data = [
        {"id": model_id, "object": "model", "created": created, "owned_by": owner}
        for model_id, owner in services.catalog.model_ids(ctx.project_id)
    ]
    return json_response({"object": "list", "data": data})


def setup(routes: Routes) -> None:
    routes.add_post("/v1/chat/completions", chat_completions)
    routes.add_get("/v1/models", list_models)
