"""Delivering streamed answers: SSE events for the OpenAI-shaped routes, raw bytes for the generic one.

Once the first byte is out an answer cannot become an error status: a break ends an SSE stream with a
clean error event and ``[DONE]``, and a raw body ends early (audio: the connection is closed before the
body's end, so the client knows it is truncated). Either way the stream itself keeps the failure
(``AnswerStream.error``), so the call is recorded as failed when it ends. A client that
goes away raises out of here into the pipeline's run, which records it and lets go of the upstream.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from aiohttp import web

from api_connector.api.render import openai_error_body
from api_connector.errors import UpstreamError
from api_connector.observability.logging import get_logger
from api_connector.observability.redaction import Redactor
from api_connector.pipeline.run import Run
from api_connector.wire.sse import DONE_FRAME, frame

log = get_logger("api_connector.stream")
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _EventStreamResponse(web.StreamResponse):
    """A streamed answer whose status and headers go out with its first bytes, in one write.

    The pipeline hands over a stream only once its upstream has answered and its first events are in
    hand, so nothing is gained by sending the headers apart (aiohttp's default for streamed
    responses): that cost every stream a system call of its own. aiohttp reads this class attribute
    when the response is prepared; its plain ``Response`` sets it the same way.
    """

    _send_headers_immediately = False


async def write_sse(request: web.Request, run: Run[Any, Any], redactor: Redactor) -> web.StreamResponse:
    stream = run.stream
    assert stream is not None
    response = _EventStreamResponse(headers={**SSE_HEADERS, "x-request-id": run.call.request_id, **run.headers})
    # Once upstream has said it is done nothing is worth waiting for: the rest goes out in one write
    # with the end of the stream (fewer system calls and chunk frames for short answers).
    held = b""
    try:
        await response.prepare(request)
        # As SSE: events the upstream framed as they are to be sent go on as they came.
        async for data in stream.sse():
            if stream.finished:
                held += data
            else:
                await response.write(data)
        await response.write_eof(held + DONE_FRAME)
    except UpstreamError as error:
        log.warning("stream broke after the first byte", code=error.code, provider=error.provider)
        body = orjson.dumps(openai_error_body(error, redactor))
        with contextlib.suppress(ConnectionResetError):
            await response.write(held + frame(body) + DONE_FRAME)
    return response


async def write_raw(
    request: web.Request, run: Run[Any, Any], headers: dict[str, str], *, status: int | None = None, cut: bool = False
) -> web.StreamResponse:
    """The stream's bytes as they come, with the upstream's status unless ``status`` says otherwise.

    A break after the first byte ends the body early; with ``cut`` the connection is closed without
    the body's last chunk, so the client sees a truncated answer (audio) instead of a short one.
    """
    stream = run.stream
    assert stream is not None
    response = web.StreamResponse(status=status or stream.status, headers={**headers, **run.headers})
    await response.prepare(request)
    try:
        async for pieces in stream.batches():
            await response.write(pieces[0] if len(pieces) == 1 else b"".join(pieces))
    except UpstreamError as error:
        # The body ends early (with ``cut``, broken off); the call's record says why.
        if cut and request.transport is not None:
            log.warning("stream broke after the first byte", code=error.code, provider=error.provider)
            request.transport.close()  # what was written still goes out; the terminating chunk never does
    return response
