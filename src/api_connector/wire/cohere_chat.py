"""Cohere chat v2 (``POST /v2/chat``) <-> the canonical OpenAI Chat Completions shape.

Requests: roles map one to one (developer becomes system); user content is a string or text and
``image_url`` parts (vision models); assistant text beside tool calls is Cohere's ``tool_plan``; tool
results are strings or parts (text, and Cohere's own ``document`` parts for a caller who sends them).
OpenAI function tools are Cohere's; ``tool_choice`` "required" / "none" are REQUIRED / NONE, and a named
function is sent as the only tool, required. ``response_format`` json_object / json_schema are Cohere's
json_object (with the schema). ``top_p`` is ``p``, ``stop`` is ``stop_sequences``; Cohere-only fields
(``documents``, ``citation_options``, ``safety_mode``, ...) pass through when a caller sends them.

Answers and streams come back as OpenAI ``chat.completion`` / ``chat.completion.chunk`` JSON. Cohere
does not name the model in its answers, so the model asked for is written. ``tool_plan`` is the
assistant's text beside its tool calls (the same turn sent back becomes a ``tool_plan`` again);
thinking and citations have no OpenAI form and are left out. Finish reasons COMPLETE / STOP_SEQUENCE /
MAX_TOKENS / TOOL_CALL are stop / stop / length / tool_calls; ERROR and TIMEOUT are failures. Usage is
what Cohere bills (``cohere_types.CohereUsage``).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import ValidationError

from api_connector.core.chat import ChatMessage, ChatRequest, ContentPart, ToolCall, ToolDefinition
from api_connector.errors import ValidationFailed
from api_connector.wire.base import ChatResult, StreamState, VendorError, VendorFailed
from api_connector.wire.carried import CarriedFields, ResponseFormat, vendor_fields
from api_connector.wire.cohere_types import (
    COHERE_ONLY,
    CallerExtras,
    CohereAnswer,
    CohereEvent,
    CohereFunction,
    failed_finish,
    finish_reason,
)
from api_connector.wire.openai_shapes import ChunkWriter
from api_connector.wire.sse import SSEEvent
from api_connector.wire.vendor_errors import decode_vendor_error

Block = dict[str, Any]
# Cohere takes temperatures up to 1 (OpenAI up to 2) and nucleus sampling p between 0.01 and 0.99.
_MAX_TEMPERATURE = 1.0
_P_RANGE = (0.01, 0.99)


def _parts(content: str | list[ContentPart] | None, param: str, *, documents: bool = False) -> str | list[Block]:
    """A message's content as Cohere takes it: the string, or its parts (images for user turns,
    Cohere's documents for tool results)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[Block] = []
    for i, part in enumerate(content):
        if part.type == "text":
            parts.append({"type": "text", "text": part.text or ""})
        elif part.type == "image_url" and part.image_url is not None and not documents:
            image: Block = {"url": part.image_url.url}
            if part.image_url.detail is not None:
                image["detail"] = part.image_url.detail
            parts.append({"type": "image_url", "image_url": image})
        elif part.type == "document" and documents:
            parts.append(part.model_dump(exclude_none=True))
        else:
            message = f"content parts of type {part.type!r} are not supported by Cohere"
            raise ValidationFailed(message, param=f"{param}[{i}]")
    return parts


def _tool_call(call: ToolCall) -> Block:
    function = {"name": call.function.name, "arguments": call.function.arguments}
    return {"id": call.id, "type": "function", "function": function}


def _message(message: ChatMessage, param: str) -> Block | None:
    """One OpenAI message as Cohere's (None: an empty assistant turn, which Cohere refuses)."""
    if message.role in ("system", "developer"):
        return {"role": "system", "content": message.text()}
    if message.role == "user":
        return {"role": "user", "content": _parts(message.content, f"{param}.content")}
    if message.role == "assistant":
        text = message.text()
        if message.tool_calls:
            turn: Block = {"role": "assistant", "tool_calls": [_tool_call(call) for call in message.tool_calls]}
            if text:
                turn["tool_plan"] = text
            return turn
        return {"role": "assistant", "content": text} if text else None
    if message.role == "tool":
        if not message.tool_call_id:
            raise ValidationFailed("tool messages need a tool_call_id", param=param)
        content = _parts(message.content, f"{param}.content", documents=True)
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": content}
    raise ValidationFailed(f"messages with role {message.role!r} are not supported by Cohere", param=param)


def _tool(tool: ToolDefinition) -> Block:
    function = tool.function
    declared: Block = {"name": function.name, "parameters": function.parameters or {"type": "object", "properties": {}}}
    if function.description is not None:
        declared["description"] = function.description
    return {"type": "function", "function": declared}


def _tools(request: ChatRequest, body: Block) -> None:
    """``tools`` and ``tool_choice``: Cohere cannot name a function to call, so a named one is sent alone."""
    assert request.tools
    choice = request.tool_choice
    tools = request.tools
    named = request.named_tool() if isinstance(choice, dict) else None
    if named is not None:
        tools = [tool for tool in tools if tool.function.name == named]
        if not tools:
            raise ValidationFailed(f"tool_choice names {named!r}, which is not among the tools", param="tool_choice")
    elif choice not in (None, "auto", "none", "required"):
        raise ValidationFailed(f"unknown tool_choice {choice!r}", param="tool_choice")
    body["tools"] = [_tool(tool) for tool in tools]
    if named is not None or choice == "required":
        body["tool_choice"] = "REQUIRED"
    elif choice == "none":
        body["tool_choice"] = "NONE"


def _response_format(requested: ResponseFormat) -> Block | None:
    if requested.type == "json_object":
        return {"type": "json_object"}
    if requested.type == "json_schema":
        schema = requested.json_schema.schema_ if requested.json_schema else None
        return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
    if requested.type == "text":
        return None
    raise ValidationFailed(f"response_format {requested.type!r} is not supported by Cohere", param="response_format")


def _sampling(request: ChatRequest, extras: CallerExtras, body: Block) -> None:
    if request.temperature is not None:
        body["temperature"] = min(request.temperature, _MAX_TEMPERATURE)
    limit = request.output_token_limit()
    if limit is not None:
        body["max_tokens"] = limit
    if request.stop:
        body["stop_sequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if request.top_p is not None:
        body["p"] = min(max(request.top_p, _P_RANGE[0]), _P_RANGE[1])
    for name in ("seed", "frequency_penalty", "presence_penalty"):
        value = getattr(extras, name)
        if value is not None:
            body[name] = value


FIELDS = CarriedFields(
    vendor="Cohere",
    carried=frozenset({"seed", "frequency_penalty", "presence_penalty", "response_format", *COHERE_ONLY}),
    hints={
        "n": "Cohere answers one choice per request: n must be 1",
        "reasoning_effort": "send Cohere's thinking ({\"type\": \"enabled\", \"token_budget\": ...}) in extra_body",
        "top_k": "Cohere's top-k is k (extra_body)",
    },
)


def encode_chat_request(request: ChatRequest, upstream_model: str, fields: CarriedFields = FIELDS) -> Block:
    """The chat v2 body for ``request``; a field ``fields`` does not let through is refused."""
    fields.check(request)
    messages = [_message(message, f"messages[{i}]") for i, message in enumerate(request.messages)]
    body: Block = {"model": upstream_model, "messages": [message for message in messages if message is not None]}
    if request.tools:
        _tools(request, body)
    extras = CallerExtras.model_validate(request.model_extra or {})
    _sampling(request, extras, body)
    if extras.response_format is not None:
        response_format = _response_format(extras.response_format)
        if response_format is not None:
            body["response_format"] = response_format
    body.update(vendor_fields(request, COHERE_ONLY))
    body["stream"] = request.stream
    return body


def _arguments(raw: str | None) -> str:
    # Cohere writes "null" (or nothing) for a call without arguments; OpenAI clients parse a JSON object.
    return "{}" if raw is None or raw.strip() in ("", "null") else raw


def completion_from_answer(answer: CohereAnswer, model: str, created: int) -> Block:
    """An OpenAI ``chat.completion`` object for a Cohere chat answer."""
    message = answer.message
    text = "".join(part.text or "" for part in message.content if part.type == "text")
    calls = [
        {"id": call.id, "type": "function",
         "function": {"name": call.function.name, "arguments": _arguments(call.function.arguments)}}
        for call in message.tool_calls
    ]
    if calls and message.tool_plan:
        text = message.tool_plan + text
    reply: Block = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    choice = {"index": 0, "message": reply, "logprobs": None, "finish_reason": finish_reason(answer.finish_reason)}
    return {
        "id": answer.id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": answer.usage.to_usage().as_openai(),
    }


class CohereChatStream:
    """Turns Cohere chat stream events into OpenAI chunks, one text or tool-call delta at a time."""

    __slots__ = ("_chunks", "_include_usage", "_tools", "_with_arguments", "state")

    def __init__(self, request: ChatRequest, model: str) -> None:
        self.state = StreamState()
        self._include_usage = request.wants_usage_in_stream
        self._chunks = ChunkWriter("", model, int(time.time()))
        self._tools: dict[int, int] = {}  # Cohere's tool call index -> OpenAI's
        self._with_arguments: set[int] = set()  # OpenAI indexes whose arguments have arrived

    def feed(self, event: SSEEvent) -> list[bytes]:
        if not event.raw or event.raw == b"[DONE]":
            return []
        try:
            parsed = CohereEvent.model_validate_json(event.raw)
        except ValidationError:
            self.state.error = VendorError(message="upstream sent a stream event that is not valid JSON")
            return []
        message = parsed.delta.message if parsed.delta is not None else None
        match parsed.type:
            case "message-start":
                self._chunks.id = parsed.id or self._chunks.id
                return [self._chunks.delta({"role": "assistant", "content": ""})]
            case "content-start" | "content-delta" if message and message.content and message.content.text:
                return [self._chunks.delta({"content": message.content.text})]
            case "tool-plan-delta" if message and message.tool_plan:
                return [self._chunks.delta({"content": message.tool_plan})]
            case "tool-call-start" | "tool-call-delta" if message and message.tool_calls:
                return self._tool_call(parsed.type, parsed.index, message.tool_calls.id, message.tool_calls.function)
            case "tool-call-end":
                return self._no_arguments(parsed.index)
            case "message-end":
                return self._end(parsed)
            case _:  # content-end, citations, thinking deltas, and event types added later
                return []

    def finish(self) -> list[bytes]:
        return []

    def _tool_call(self, kind: str, index: int, call_id: str | None, function: CohereFunction | None) -> list[bytes]:
        arguments = (function.arguments or "") if function is not None else ""
        if kind == "tool-call-start":
            position = self._tools[index] = len(self._tools)
            name = function.name if function is not None else ""
            call = {"index": position, "id": call_id or "", "type": "function",
                    "function": {"name": name, "arguments": arguments}}
        elif index in self._tools:
            position = self._tools[index]
            call = {"index": position, "function": {"arguments": arguments}}
        else:
            return []
        if arguments:
            self._with_arguments.add(position)
        return [self._chunks.delta({"tool_calls": [call]})]

    def _no_arguments(self, index: int) -> list[bytes]:
        """A call that ended without arguments gets an empty object, as its whole answer would."""
        position = self._tools.get(index)
        if position is None or position in self._with_arguments:
            return []
        self._with_arguments.add(position)
        return [self._chunks.delta({"tool_calls": [{"index": position, "function": {"arguments": "{}"}}]})]

    def _end(self, event: CohereEvent) -> list[bytes]:
        delta = event.delta
        reason = delta.finish_reason if delta else None
        failed = failed_finish(reason, delta.error if delta else None)
        if failed is not None:
            self.state.error = failed
            return []
        if delta is not None and delta.usage is not None:
            self.state.usage = delta.usage.to_usage()
        self.state.finish_reason = finish_reason(reason)
        self.state.done = True
        payloads = [self._chunks.delta({}, self.state.finish_reason)]
        if self._include_usage:
            payloads.append(self._chunks.usage(self.state.usage))
        return payloads


class CohereChatWire:
    """``drops``: request fields the provider's declaration leaves out rather than refusing."""

    name = "cohere_chat"

    def __init__(self, drops: frozenset[str] = frozenset()) -> None:
        self.fields = FIELDS.dropping(drops)

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        return orjson.dumps(encode_chat_request(request, upstream_model, self.fields))

    def decode_response(self, body: bytes, request: ChatRequest) -> ChatResult:
        answer = CohereAnswer.model_validate_json(body)
        failed = failed_finish(answer.finish_reason)
        if failed is not None:
            raise VendorFailed(failed)
        completion = completion_from_answer(answer, request.model, int(time.time()))
        reason = finish_reason(answer.finish_reason)
        return ChatResult(body=orjson.dumps(completion), usage=answer.usage.to_usage(), finish_reason=reason)

    def stream_translator(self, request: ChatRequest) -> CohereChatStream:
        return CohereChatStream(request, request.model)

    def decode_error(self, body: bytes) -> VendorError | None:
        # Cohere answers ``{"id": ..., "message": ...}``.
        return decode_vendor_error(body)


COHERE_CHAT = CohereChatWire()
