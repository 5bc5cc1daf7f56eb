"""The Anthropic Messages API: ``POST /v1/messages`` (JSON and SSE) and ``/v1/messages/count_tokens``.

An ingress shape, not a capability of its own: the Anthropic request becomes the chat capability's
request (``wire.anthropic_ingress``), runs the one pipeline to any provider a route names, and its
OpenAI-shaped answer or chunks are rendered back as an Anthropic message or Anthropic stream events.
Callers authenticate with a gateway key as ``x-api-key`` (Anthropic's header) or ``Authorization:
Bearer``; ``anthropic-version`` is accepted and not needed, ``anthropic-beta`` reaches Anthropic
targets as sent. Errors take Anthropic's shape (``api.anthropic_errors``), in a stream as an ``error``
event.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from api_connector.api.anthropic_errors import anthropic_error_body
from api_connector.api.context import call_for, parse_model, project_of, read_json
from api_connector.api.middleware import Routes
from api_connector.api.render import json_response
from api_connector.api.services import REQUEST_ID, SERVICES
from api_connector.api.streaming import SSE_HEADERS
from api_connector.capabilities.chat import CHAT
from api_connector.capabilities.token_count import TOKEN_COUNT
from api_connector.core.capabilities import Capability
from api_connector.errors import UpstreamError
from api_connector.observability.logging import get_logger
from api_connector.pipeline.run import Run
from api_connector.wire.anthropic_ingress import chat_request, estimate_input_tokens, message_json
from api_connector.wire.anthropic_ingress_stream import AnthropicEventStream, error_frame
from api_connector.wire.anthropic_ingress_types import CountTokensRequest, MessagesRequest

log = get_logger("api_connector.stream")
# Anthropic's own name for the request id header (its SDKs show it as ``_request_id``).
ANTHROPIC_REQUEST_ID = "request-id"
# Whether a token count is the provider's own or the gateway's estimate ("provider" / "estimate").
COUNT_SOURCE_HEADER = "x-token-count-source"


async def messages(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    anthropic = parse_model(MessagesRequest, await read_json(request))
    chat = chat_request(anthropic)
    async with services.pipeline.run(call_for(request, Capability.CHAT), CHAT, chat) as run:
        if run.stream is not None:
            return await _write_events(request, run, anthropic)
        assert run.result is not None
        message = message_json(run.result.body, run.result.usage, anthropic.stop_sequences)
        return json_response(message, headers={**run.headers, ANTHROPIC_REQUEST_ID: request[REQUEST_ID]})


async def count_tokens(request: web.Request) -> web.Response:
    """The provider's count where a target of the route can count (Anthropic), else the gateway's
    estimate (about four characters a token); ``x-token-count-source`` says which."""
    services = request.app[SERVICES]
    anthropic = parse_model(CountTokensRequest, await read_json(request))
    chat = chat_request(anthropic.model_copy(update={"stream": False}))
    route = TOKEN_COUNT.route(services.catalog, project_of(request), chat)
    headers = {ANTHROPIC_REQUEST_ID: request[REQUEST_ID]}
    if not route.capable(Capability.TOKEN_COUNT):
        headers[COUNT_SOURCE_HEADER] = "estimate"
        return json_response({"input_tokens": estimate_input_tokens(chat)}, headers=headers)
    # A count that failed everywhere is not worth keeping for a replay nobody waits for.
    call = call_for(request, Capability.TOKEN_COUNT)._replace(dead_letter=False)
    async with services.pipeline.run(call, TOKEN_COUNT, chat) as run:
        assert run.result is not None
        headers[COUNT_SOURCE_HEADER] = "provider"
        return json_response(run.result.answer(), headers={**run.headers, **headers})


async def _write_events(request: web.Request, run: Run[Any, Any], anthropic: MessagesRequest) -> web.StreamResponse:
    """The stream as Anthropic events; a break after the first byte ends it with an ``error`` event."""
    stream = run.stream
    assert stream is not None
    request_id = request[REQUEST_ID]
    response = web.StreamResponse(
        headers={**SSE_HEADERS, "x-request-id": request_id, ANTHROPIC_REQUEST_ID: request_id, **run.headers}
    )
    events = AnthropicEventStream(f"msg_{request_id}", anthropic.model, anthropic.stop_sequences)
    # Once upstream has said it is done, the rest goes out in one write with the end of the stream.
    held = b""
    try:
        await response.prepare(request)
        async for payloads in stream.batches():
            data = events.feed(payloads, stream.usage)
            if stream.finished:
                held += data
            elif data:
                await response.write(data)
        await response.write_eof(held + events.finish(stream.usage))
    except UpstreamError as error:
        log.warning("stream broke after the first byte", code=error.code, provider=error.provider)
        body = anthropic_error_body(error, request.app[SERVICES].redactor, request_id)
        with contextlib.suppress(ConnectionResetError):
            await response.write(held + error_frame(body))
    return response


def setup(routes: Routes) -> None:
    routes.add_post("/v1/messages", messages)
    routes.add_post("/v1/messages/count_tokens", count_tokens)
