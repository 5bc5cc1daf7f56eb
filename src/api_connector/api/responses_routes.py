"""OpenAI's Responses API: ``POST /v1/responses`` (a ``response`` object, or its streamed events), and
``GET`` / ``DELETE /v1/responses/{id}`` for answers the gateway keeps.

The gateway is stateless by default: it keeps no answer, and a ``previous_response_id`` is refused
(400) because nothing could be continued. With RESPONSES_STORE on, an answer is kept for its project
unless the request says ``"store": false``; a later request's ``previous_response_id`` has that
answer's input and output items put before its own input, and is then sent like any other (so it may
be served by another provider than the one it continues). Keeping an answer waits for its row, so the
next request can continue from it at once; with storing off the request path touches no storage.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.api.context import call_for, project_of, read_json, validation_failed
from api_connector.api.middleware import Routes
from api_connector.api.render import json_response, raw_json_response
from api_connector.api.services import SERVICES
from api_connector.api.streaming import SSE_HEADERS
from api_connector.capabilities.responses import RESPONSES
from api_connector.core.call import Call
from api_connector.core.capabilities import Capability
from api_connector.core.responses import ResponsesRequest, history
from api_connector.errors import ConnectorError, NotFound, PreviousResponseNotFound, UpstreamError, ValidationFailed
from api_connector.observability.logging import get_logger
from api_connector.observability.redaction import Redactor
from api_connector.pipeline.run import Run
from api_connector.storage.response_store import ResponseStore
from api_connector.wire.openai_responses import TERMINAL, failure_frames, frame_payload, read_event

log = get_logger("api_connector.responses")
Keep = Callable[[bytes], Awaitable[None]]  # stores one answer (the response object's JSON)
_NOT_KEPT = "this gateway keeps no responses (the operator has not turned on RESPONSES_STORE)"


async def create_response(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    body = await read_json(request)
    if "model" not in body:
        body["model"] = services.settings.default_openai_model  # as /v1/chat/completions does
    try:
        asked = ResponsesRequest.from_json_obj(body)
    except ValidationError as exc:
        raise validation_failed(exc) from None
    store = services.responses
    project = project_of(request)
    if asked.previous_response_id is not None:
        asked = await _continued(store, project, asked)
    if store is not None and asked.store is not False:
        asked.keep()
    call = call_for(request, Capability.RESPONSES)
    keep = _keeper(store, call, asked, services.redactor) if store is not None and asked.kept else None
    async with services.pipeline.run(call, RESPONSES, asked) as run:
        if run.stream is not None:
            return await write_events(request, run, services.redactor, keep)
        assert run.result is not None
        if keep is not None:
            await keep(run.result.body)
        response = raw_json_response(run.result.body)
        if run.headers:
            response.headers.update(run.headers)
        return response


async def _continued(store: ResponseStore | None, project: str, asked: ResponsesRequest) -> ResponsesRequest:
    previous = asked.previous_response_id
    assert previous is not None
    if store is None:
        raise ValidationFailed(
            f"previous_response_id cannot be used: {_NOT_KEPT}; send the conversation's items in input instead",
            param="previous_response_id",
        )
    stored = await store.get(project, previous)
    if stored is None:
        message = f"Previous response with id {previous!r} not found."
        raise PreviousResponseNotFound(message, param="previous_response_id")
    return asked.continued(history(stored.input, stored.response))


class _Kept(BaseModel):
    """What the store files an answer under."""

    model_config = ConfigDict(extra="ignore")
    id: str
    model: str = ""


class _Terminal(BaseModel):
    model_config = ConfigDict(extra="ignore")
    response: dict[str, Any]


def _keeper(store: ResponseStore, call: Call, asked: ResponsesRequest, redactor: Redactor) -> Keep:
    # Kept like a dead letter: any secret the gateway knows is masked (answers were masked on the way).
    items = orjson.loads(redactor.scrub_body(orjson.dumps(asked.input_items())))

    async def keep(answer: bytes) -> None:
        # The caller has (or is about to have) the answer: failing to keep it is logged, not answered.
        try:
            response = orjson.loads(answer)
            kept = _Kept.model_validate(response)
            await store.put(call.project_id, call.key_id, kept.id, kept.model or asked.model, items, response)
        except (ConnectorError, ValidationError, ValueError) as exc:
            log.warning("a response could not be kept", error=type(exc).__name__, request_id=call.request_id)

    return keep


async def write_events(
    request: web.Request, run: Run[Any, Any], redactor: Redactor, keep: Keep | None
) -> web.StreamResponse:
    """The answer's events as they come (each piece a whole SSE frame); a break after the first one ends
    the stream with an ``error`` and a ``response.failed`` event; a finished answer is kept if asked."""
    stream = run.stream
    assert stream is not None
    response = web.StreamResponse(headers={**SSE_HEADERS, "x-request-id": run.call.request_id, **run.headers})
    held = b""  # once upstream is done, the rest goes out in one write with the end of the stream
    first = last = b""
    try:
        await response.prepare(request)
        async for frames in stream.batches():
            first = first or frames[0]
            last = frames[-1]
            data = b"".join(frames)
            if stream.finished:
                held += data
            else:
                await response.write(data)
        if keep is not None:
            await _keep_final(keep, last)
        await response.write_eof(held)
    except UpstreamError as error:
        log.warning("stream broke after the first byte", code=error.code, provider=error.provider)
        ending = failure_frames(first, last, error.code, redactor.scrub(error.message), error.param)
        with contextlib.suppress(ConnectionResetError):
            await response.write(held + ending)
    return response


async def _keep_final(keep: Keep, last: bytes) -> None:
    head = read_event(last)
    if head is None or head.type not in TERMINAL:
        return
    with contextlib.suppress(ValidationError):
        await keep(orjson.dumps(_Terminal.model_validate_json(frame_payload(last)).response))


async def get_response(request: web.Request) -> web.Response:
    store = request.app[SERVICES].responses
    response_id = request.match_info["response_id"]
    if request.query.get("stream") in ("true", "1"):
        raise ValidationFailed("stored responses are answered whole, not streamed again", param="stream")
    stored = await store.get(project_of(request), response_id) if store is not None else None
    if stored is None:
        raise NotFound(_missing(response_id, store))
    return json_response(stored.response)


async def delete_response(request: web.Request) -> web.Response:
    store = request.app[SERVICES].responses
    response_id = request.match_info["response_id"]
    if store is None or not await store.delete(project_of(request), response_id):
        raise NotFound(_missing(response_id, store))
    return json_response({"id": response_id, "object": "response", "deleted": True})


def _missing(response_id: str, store: ResponseStore | None) -> str:
    if store is None:
        return f"No response with id {response_id!r}: {_NOT_KEPT}."
    return f"No response with id {response_id!r} found."


OPERATIONS: tuple[tuple[str, str, str, type[BaseModel] | None, int], ...] = (
    (
        "post",
        "/v1/responses",
        "OpenAI Responses API (JSON or streamed events): passed through to providers with the Responses API, "
        "translated to chat for the others; previous_response_id needs RESPONSES_STORE",
        ResponsesRequest,
        200,
    ),
    ("get", "/v1/responses/{response_id}", "A stored response of this project (RESPONSES_STORE)", None, 200),
    ("delete", "/v1/responses/{response_id}", "Delete a stored response of this project", None, 200),
)


def setup(routes: Routes) -> None:
    routes.add_post("/v1/responses", create_response)
    routes.add_get("/v1/responses/{response_id}", get_response)
    routes.add_delete("/v1/responses/{response_id}", delete_response)
