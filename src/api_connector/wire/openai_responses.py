"""OpenAI's Responses API (``POST /responses``): spoken by OpenAI itself and Azure OpenAI (``/openai/v1``).

Requests are passed through as the caller sent them (the model name aside); answers and stream events
are forwarded untouched, and only what the gateway accounts for is read: the ``usage`` of the final
response (input, output and cached input tokens), how the stream ended, and a failure's code and
message. A streamed answer's pieces are whole SSE frames (``event: <type>`` and ``data: <json>``), as
OpenAI writes them, so the route sends them on as they are.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.core.responses import ResponsesRequest, ResponsesResult
from api_connector.core.usage import Usage
from api_connector.wire.base import StreamState, VendorError
from api_connector.wire.openai_chat import decode_openai_error
from api_connector.wire.sse import SSEEvent

# Events after which the answer is whole (``response.incomplete``: cut short, e.g. at max_output_tokens).
TERMINAL = frozenset({"response.completed", "response.incomplete"})
# Events that say the answer failed: the gateway ends the stream with its own failure events instead.
FAILED = frozenset({"response.failed", "error"})
_READ = TERMINAL | FAILED


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _InputDetails(_Lenient):
    cached_tokens: int | None = None


class _OutputDetails(_Lenient):
    reasoning_tokens: int | None = None


class ResponsesUsage(_Lenient):
    input_tokens: int = 0
    output_tokens: int = 0
    input_tokens_details: _InputDetails | None = None
    output_tokens_details: _OutputDetails | None = None

    def to_usage(self) -> Usage:
        details = self.input_tokens_details
        cached = details.cached_tokens if details is not None and details.cached_tokens else 0
        return Usage(max(0, self.input_tokens), max(0, self.output_tokens), max(0, cached))


class AnswerError(_Lenient):
    code: str | None = None
    message: str = ""


class ResponseAnswer(_Lenient):
    """The parts of a ``response`` object the gateway reads (the rest is forwarded untouched)."""

    id: str = ""
    object: str | None = None
    status: str | None = None
    output: list[dict[str, Any]] | None = None
    usage: ResponsesUsage | None = None
    error: AnswerError | None = None

    def to_usage(self) -> Usage:
        return self.usage.to_usage() if self.usage is not None else Usage()


class StreamEventHead(_Lenient):
    """Any stream event: its type and sequence number, and for the few that end a stream what they say."""

    type: str = ""
    sequence_number: int | None = None
    response: ResponseAnswer | None = None
    code: str | None = None  # ``error`` events
    message: str | None = None
    param: str | None = None


def event_frame(kind: str, payload: bytes) -> bytes:
    """One SSE frame as OpenAI writes Responses events: the event's type, then its JSON."""
    return b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n"


def frame_payload(frame: bytes) -> bytes:
    """The JSON of a frame made by ``event_frame``."""
    return frame[frame.index(b"data: ") + 6 : -2]


def read_event(frame: bytes) -> StreamEventHead | None:
    """What a frame's event says (None when its data is not a JSON event)."""
    try:
        return StreamEventHead.model_validate_json(frame_payload(frame))
    except (ValidationError, ValueError):
        return None


class _Snapshot(BaseModel):
    """A ``response`` object kept whole (a lifecycle event's), to be sent again with another status."""

    model_config = ConfigDict(extra="allow")
    id: str = ""


class _Lifecycle(_Lenient):
    response: _Snapshot


def failure_frames(first: bytes, last: bytes, code: str, message: str, param: str | None) -> bytes:
    """How a stream that broke after its first events ends: an ``error`` event, then ``response.failed``
    with the response as its first event (``response.created``) described it.

    ``first`` and ``last`` are the first and last frames the client received: the failed response keeps
    the created one's id (clients hold on to it) and the events go on numbering after the last one.
    """
    head = read_event(last)
    sequence = head.sequence_number + 1 if head is not None and head.sequence_number is not None else 0
    # Responses name a failure with their own short list of codes; the gateway's code stays in ``error``.
    failed_code = "rate_limit_exceeded" if code in ("rate_limited", "quota_exhausted") else "server_error"
    error = {"type": "error", "sequence_number": sequence, "code": code, "message": message, "param": param}
    frames = event_frame("error", orjson.dumps(error))
    try:
        response = _Lifecycle.model_validate_json(frame_payload(first)).response
    except (ValidationError, ValueError):
        return frames  # a stream whose first event was not the response's: nothing to fail
    failed = response.model_dump() | {"status": "failed", "error": {"code": failed_code, "message": message}}
    event = {"type": "response.failed", "sequence_number": sequence + 1, "response": failed}
    return frames + event_frame("response.failed", orjson.dumps(event))


class ResponsesEventStream:
    """Forwards a Responses stream event by event, noting its usage and how it ended."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = StreamState()

    def feed(self, event: SSEEvent) -> list[bytes]:
        payload = event.raw
        if not payload:
            return []
        if payload == b"[DONE]":  # not OpenAI's, but some Responses-compatible servers end so
            self.state.done = True
            return []
        kind = event.event
        if kind is not None and kind not in _READ:
            return [event_frame(kind, payload)]  # most events: forwarded without being parsed
        try:
            head = StreamEventHead.model_validate_json(payload)
        except ValidationError:
            self.state.error = VendorError(message="upstream sent a stream event that is not a JSON event")
            return []
        kind = kind or head.type
        if kind in FAILED:
            self.state.error = _failure(head)
            return []
        if kind in TERMINAL:
            self.state.done = True
            answer = head.response
            if answer is not None:
                self.state.usage = answer.to_usage()
            self.state.finish_reason = "stop" if kind == "response.completed" else "length"
        return [event_frame(kind, payload)]

    def finish(self) -> list[bytes]:
        return []


def _failure(head: StreamEventHead) -> VendorError:
    error = head.response.error if head.response is not None else None
    if error is not None:
        return VendorError(error.message or "the response failed", code=error.code)
    return VendorError(head.message or "upstream reported an error in the stream", code=head.code, param=head.param)


class OpenAIResponsesWire:
    name = "openai_responses"

    def encode_request(self, request: ResponsesRequest, upstream_model: str) -> bytes:
        body = request.wire_dict()
        body["model"] = upstream_model
        return orjson.dumps(body)

    def decode_response(self, body: bytes) -> ResponsesResult:
        answer = ResponseAnswer.model_validate_json(body)
        if answer.output is None or not answer.id:
            raise ValueError("not a response object (no id or output)")
        return ResponsesResult(body, answer.to_usage(), answer.status)

    def stream_translator(self, request: ResponsesRequest) -> ResponsesEventStream:
        return ResponsesEventStream()

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_openai_error(body)


OPENAI_RESPONSES = OpenAIResponsesWire()
