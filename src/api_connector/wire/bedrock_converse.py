"""AWS Bedrock Converse (``POST /model/{model}/converse`` and ``/converse-stream``) <-> the OpenAI shape.

Requests are translated by ``bedrock_request``. Answers come back as OpenAI ``chat.completion`` JSON;
streams, in AWS's binary event stream (``aws_eventstream``), as ``chat.completion.chunk`` payloads, one
text or tool-call delta at a time. Bedrock names no answer id and no model: the id is made here, the
model is the one the caller asked for. Reasoning blocks are not part of the OpenAI shape and are left out.
Errors: the kind in the ``x-amzn-errortype`` header (inside a stream, ``:exception-type``), the message
in the body.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from api_connector.core.chat import ChatRequest
from api_connector.wire.aws_eventstream import EventStreamDecoder, EventStreamError, Message
from api_connector.wire.base import ChatResult, StreamState, VendorError
from api_connector.wire.bedrock_request import FIELDS, encode_converse_request
from api_connector.wire.bedrock_types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ConverseResponse,
    MessageStop,
    Metadata,
    bedrock_error,
    error_kind,
    finish_reason,
    header_error,
    stream_error,
)
from api_connector.wire.openai_shapes import chunk_payload
from api_connector.wire.sse import SSEEvent

EVENT_STREAM = "application/vnd.amazon.eventstream"
_Event = TypeVar("_Event", bound=BaseModel)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion_from_converse(answer: ConverseResponse, model: str, created: int) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object for a Converse answer."""
    blocks = answer.output.message.content
    text = "".join(block.text for block in blocks if block.text is not None)
    calls = [
        _tool_call(use.tool_use_id, use.name, orjson.dumps(use.input if use.input is not None else {}).decode())
        for block in blocks
        if (use := block.tool_use) is not None and use.for_caller
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    choice = {"index": 0, "message": reply, "logprobs": None, "finish_reason": finish_reason(answer.stop_reason)}
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": answer.usage.to_usage().as_openai(),
    }


def _parse(kind: type[_Event], raw: bytes) -> _Event | None:
    try:
        return kind.model_validate_json(raw)
    except ValidationError:
        return None


class ConverseStream:
    """ConverseStream events in, OpenAI chunks out (``wire.base.FramedStreamTranslator``)."""

    media_type = EVENT_STREAM

    __slots__ = (
        "_argued",
        "_created",
        "_decoder",
        "_id",
        "_include_usage",
        "_model",
        "_started",
        "_tools",
        "state",
    )

    def __init__(self, request: ChatRequest) -> None:
        self.state = StreamState()
        self._decoder = EventStreamDecoder()
        self._include_usage = request.wants_usage_in_stream
        self._id = _completion_id()
        self._model = request.model
        self._created = int(time.time())
        # Bedrock numbers content blocks (text, reasoning, tool use); OpenAI numbers tool calls only.
        self._tools: dict[int, int] = {}
        self._argued: set[int] = set()  # tool calls whose arguments have begun
        self._started = False

    def feed_bytes(self, chunk: bytes) -> list[bytes]:
        payloads: list[bytes] = []
        for message in self._decoder.feed(chunk):
            payloads += self._message(message)
            if self.state.error is not None:
                break  # nothing after an error is part of the answer
        return payloads

    def _message(self, message: Message) -> list[bytes]:
        kind = message.message_type
        if kind == "event":
            return self.feed(SSEEvent(message.payload, message.header(":event-type")))
        if kind == "exception":
            self.state.error = stream_error(error_kind(message.header(":exception-type")), message.payload)
        else:  # "error": the framing's own, named in headers
            said = bedrock_error(b"", message.header(":error-code"), message.header(":error-message"))
            self.state.error = said or VendorError(message="upstream reported an error in the stream")
        return []

    def feed(self, event: SSEEvent) -> list[bytes]:
        """One decoded event: its type in ``event.event``, its JSON payload in ``event.raw``."""
        match event.event:
            case "messageStart":
                return [self._chunk({"content": ""})]
            case "contentBlockStart":
                return self._on_block_start(_parse(BlockStart, event.raw))
            case "contentBlockDelta":
                return self._on_block_delta(_parse(BlockDelta, event.raw))
            case "contentBlockStop":
                return self._on_block_stop(_parse(BlockStop, event.raw))
            case "messageStop":
                return self._on_stop(_parse(MessageStop, event.raw))
            case "metadata":
                metadata = _parse(Metadata, event.raw)
                if metadata is None:
                    return self._malformed()
                if metadata.usage is not None:
                    self.state.usage = metadata.usage.to_usage()
                return []
            case _:  # event types added later
                return []

    def finish(self) -> list[bytes]:
        if self._decoder.pending:
            raise EventStreamError("the stream ended inside a message")
        if not self._include_usage or not self.state.done:
            return []
        return [self._envelope([], usage=self.state.usage.as_openai())]

    def _on_block_start(self, event: BlockStart | None) -> list[bytes]:
        if event is None:
            return self._malformed()
        use = event.start.tool_use
        if use is None or not use.for_caller:
            return []  # text, reasoning, Bedrock's own tools and their results
        index = self._tools[event.content_block_index] = len(self._tools)
        return [self._chunk({"tool_calls": [{"index": index, **_tool_call(use.tool_use_id, use.name, "")}]})]

    def _on_block_delta(self, event: BlockDelta | None) -> list[bytes]:
        if event is None:
            return self._malformed()
        delta = event.delta
        if delta.text:
            return [self._chunk({"content": delta.text})]
        index = self._tools.get(event.content_block_index)
        if delta.tool_use is not None and delta.tool_use.input and index is not None:
            self._argued.add(index)
            return [self._arguments(index, delta.tool_use.input)]
        return []  # reasoning, empty text, and deltas of kinds added later

    def _on_block_stop(self, event: BlockStop | None) -> list[bytes]:
        if event is None:
            return self._malformed()
        index = self._tools.get(event.content_block_index)
        if index is None or index in self._argued:
            return []
        # A call without arguments streams none; OpenAI clients parse them, so they get an empty object.
        self._argued.add(index)
        return [self._arguments(index, "{}")]

    def _arguments(self, index: int, arguments: str) -> bytes:
        return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})

    def _on_stop(self, event: MessageStop | None) -> list[bytes]:
        if event is None:
            return self._malformed()
        self.state.done = True
        reason = finish_reason(event.stop_reason) or "stop"
        self.state.finish_reason = reason
        return [self._chunk({}, reason)]

    def _malformed(self) -> list[bytes]:
        self.state.error = VendorError(message="upstream sent a stream event that is not valid JSON")
        return []

    def _chunk(self, delta: dict[str, Any], reason: str | None = None) -> bytes:
        if not self._started:
            # The first chunk says who speaks, whether or not the stream began with messageStart.
            self._started = True
            delta = {"role": "assistant", **delta}
        return self._envelope([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}])

    def _envelope(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return chunk_payload(self._id, self._created, self._model, choices, **extra)


class BedrockConverseWire:
    """``drops``: request fields the provider's declaration leaves out rather than refusing."""

    name = "bedrock_converse"

    def __init__(self, drops: frozenset[str] = frozenset()) -> None:
        self.fields = FIELDS.dropping(drops)

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        return orjson.dumps(encode_converse_request(request, self.fields))

    def decode_response(self, body: bytes, request: ChatRequest) -> ChatResult:
        answer = ConverseResponse.model_validate_json(body)
        completion = completion_from_converse(answer, request.model, int(time.time()))
        return ChatResult(
            body=orjson.dumps(completion),
            usage=answer.usage.to_usage(),
            finish_reason=finish_reason(answer.stop_reason),
        )

    def stream_translator(self, request: ChatRequest) -> ConverseStream:
        return ConverseStream(request)

    def decode_error(self, body: bytes) -> VendorError | None:
        return bedrock_error(body)

    def decode_error_answer(self, headers: Mapping[str, str], body: bytes) -> VendorError | None:
        return header_error(headers, body)


BEDROCK_CONVERSE = BedrockConverseWire()
