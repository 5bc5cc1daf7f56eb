"""Anthropic Messages API <-> the canonical OpenAI Chat Completions shape.

Requests: system and developer messages become the top-level ``system``; the remaining turns must
alternate user/assistant, so consecutive turns of one role (tool results count as user turns) are merged;
tool definitions, tool choice, tool calls and images take Anthropic's forms. Answers and streams come back
as OpenAI ``chat.completion`` / ``chat.completion.chunk`` JSON. Thinking blocks are not part of the
OpenAI shape and are left out.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import ValidationError

from api_connector.core.chat import ChatMessage, ChatRequest, ContentPart, ToolCall, ToolDefinition
from api_connector.errors import ValidationFailed
from api_connector.wire.anthropic_options import FIELDS as OPTION_FIELDS
from api_connector.wire.anthropic_options import add_options
from api_connector.wire.anthropic_types import (
    AnthropicMessage,
    AnthropicUsage,
    CallerExtras,
    FilePart,
    NamedToolChoice,
    StreamEvent,
    decode_anthropic_error,
    finish_reason,
)
from api_connector.wire.base import ChatResult, StreamState, VendorError
from api_connector.wire.carried import CarriedFields
from api_connector.wire.openai_shapes import chunk_payload, data_url, delta_choice, tool_arguments
from api_connector.wire.sse import SSEEvent

# Anthropic requires max_tokens; OpenAI callers usually leave it out.
DEFAULT_MAX_TOKENS = 4096
# OpenAI accepts temperatures up to 2, Anthropic up to 1 (and answers 400 above it).
_MAX_TEMPERATURE = 1.0

Block = dict[str, Any]


def _text_block(text: str) -> list[Block]:
    # Anthropic rejects empty and whitespace-only text blocks.
    return [{"type": "text", "text": text}] if text.strip() else []


def _image_block(url: str, param: str) -> Block:
    if url.startswith("data:"):
        media_type, data = data_url(url, param)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ValidationFailed("image_url must be an http(s) URL or a base64 data URL", param=param)


def _file_block(part: ContentPart, param: str) -> Block:
    file = FilePart.model_validate(part.model_dump()).file
    if file.file_data is None:
        raise ValidationFailed("only inline files (file_data) can be sent to Anthropic", param=param)
    media_type, data = data_url(file.file_data, param)
    if media_type != "application/pdf":
        raise ValidationFailed(f"Anthropic accepts PDF files only, not {media_type}", param=param)
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _content_blocks(content: str | list[ContentPart] | None, param: str) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return _text_block(content)
    blocks: list[Block] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if part.type == "text":
            blocks += _text_block(part.text or "")
        elif part.type == "image_url" and part.image_url is not None:
            blocks.append(_image_block(part.image_url.url, where))
        elif part.type == "file":
            blocks.append(_file_block(part, where))
        elif part.type != "refusal":  # an earlier refusal carries nothing the model needs back
            raise ValidationFailed(f"content parts of type {part.type!r} are not supported by Anthropic", param=where)
    return blocks


def _tool_use_block(call: ToolCall, param: str) -> Block:
    arguments = tool_arguments(call, param)
    return {"type": "tool_use", "id": call.id, "name": call.function.name, "input": arguments}


def _tool_result_block(message: ChatMessage, param: str) -> Block:
    if not message.tool_call_id:
        raise ValidationFailed("tool messages need a tool_call_id", param=param)
    block: Block = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if isinstance(message.content, str):
        if message.content:
            block["content"] = message.content
    else:
        content = _content_blocks(message.content, f"{param}.content")
        if content:
            block["content"] = content
    return block


def _turn(message: ChatMessage, param: str) -> tuple[str, list[Block]]:
    """The Anthropic role and content blocks of one non-system OpenAI message."""
    if message.role == "user":
        return "user", _content_blocks(message.content, f"{param}.content")
    if message.role == "assistant":
        blocks = _content_blocks(message.content, f"{param}.content")
        for j, call in enumerate(message.tool_calls or ()):
            blocks.append(_tool_use_block(call, f"{param}.tool_calls[{j}].function.arguments"))
        return "assistant", blocks
    if message.role == "tool":
        # Tool results travel inside a user turn on Anthropic.
        return "user", [_tool_result_block(message, param)]
    raise ValidationFailed(f"messages with role {message.role!r} are not supported by Anthropic", param=param)


def convert_messages(messages: list[ChatMessage]) -> tuple[str | None, list[Block]]:
    """The top-level ``system`` text and the alternating user/assistant turns."""
    system: list[str] = []
    turns: list[tuple[str, list[Block]]] = []
    for i, message in enumerate(messages):
        if message.role in ("system", "developer"):
            if message.text():
                system.append(message.text())
            continue
        role, blocks = _turn(message, f"messages[{i}]")
        if not blocks:
            continue  # an empty turn is rejected upstream; dropping it keeps the rest valid
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return "\n\n".join(system) or None, [{"role": role, "content": blocks} for role, blocks in turns]


def _tool(tool: ToolDefinition) -> Block:
    function = tool.function
    schema = function.parameters or {"type": "object", "properties": {}}
    block: Block = {"name": function.name, "input_schema": schema}
    if function.description is not None:
        block["description"] = function.description
    return block


def _named_choice(choice: str | dict[str, Any] | None) -> Block:
    if choice is None or choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        try:
            named = NamedToolChoice.model_validate(choice)
        except ValidationError as exc:
            raise ValidationFailed("tool_choice must name a function", param="tool_choice") from exc
        return {"type": "tool", "name": named.function.name}
    raise ValidationFailed(f"unknown tool_choice {choice!r}", param="tool_choice")


def _tool_choice(choice: str | dict[str, Any] | None, parallel: bool | None) -> Block | None:
    if choice == "none":
        return {"type": "none"}
    if choice is None and parallel is not False:
        return None  # Anthropic's default, auto with parallel calls, is OpenAI's too
    result = _named_choice(choice)
    if parallel is False:
        result["disable_parallel_tool_use"] = True
    return result


def encode_messages_request(
    request: ChatRequest, upstream_model: str, fields: CarriedFields = OPTION_FIELDS
) -> dict[str, Any]:
    """The Anthropic request for ``request``; a field ``fields`` does not let through is refused."""
    system, messages = convert_messages(request.messages)
    body: dict[str, Any] = {
        "model": upstream_model,
        "max_tokens": request.output_token_limit() or DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    if system is not None:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = min(request.temperature, _MAX_TEMPERATURE)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    add_options(request, body, fields)
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
        extras = CallerExtras.model_validate(request.model_extra or {})
        choice = _tool_choice(request.tool_choice, extras.parallel_tool_calls)
        if choice is not None:
            body["tool_choice"] = choice
    body["stream"] = request.stream
    return body


def _tool_call(block_id: str, name: str, arguments: str) -> Block:
    return {"id": block_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _matched_stop(stop_reason: str | None, stop_sequence: str | None) -> dict[str, Any]:
    """The stop sequence that ended the answer, as vLLM's OpenAI-compatible ``stop_reason`` field
    (the OpenAI shape has none of its own; the Anthropic ingress reads it back)."""
    return {"stop_reason": stop_sequence} if stop_reason == "stop_sequence" and stop_sequence else {}


def completion_from_message(message: AnthropicMessage, created: int) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object for an Anthropic message."""
    text = "".join(block.text or "" for block in message.content if block.type == "text")
    calls = [
        _tool_call(block.id or "", block.name or "", orjson.dumps(block.input or {}).decode())
        for block in message.content
        if block.type == "tool_use"
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": reply,
        "logprobs": None,
        "finish_reason": finish_reason(message.stop_reason),
    }
    choice.update(_matched_stop(message.stop_reason, message.stop_sequence))
    return {
        "id": message.id,
        "object": "chat.completion",
        "created": created,
        "model": message.model,
        "choices": [choice],
        "usage": message.usage.to_usage().as_openai(),
    }


class AnthropicMessagesStream:
    """Turns Messages stream events into OpenAI chunks, one content or tool-call delta at a time."""

    __slots__ = (
        "_created",
        "_id",
        "_include_usage",
        "_model",
        "_started",
        "_tools",
        "_usage",
        "_usage_sent",
        "state",
    )

    def __init__(self, request: ChatRequest) -> None:
        self.state = StreamState()
        self._include_usage = request.wants_usage_in_stream
        self._id = ""
        self._model = ""
        self._created = int(time.time())
        self._usage = AnthropicUsage()
        # Anthropic numbers content blocks (text, thinking, tool_use); OpenAI numbers tool calls only.
        self._tools: dict[int, int] = {}
        self._started = False
        self._usage_sent = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        if not event.raw:
            return []
        try:
            parsed = StreamEvent.model_validate_json(event.raw)
        except ValidationError:
            self.state.error = VendorError(message="upstream sent a stream event that is not valid JSON")
            return []
        match parsed.type:
            case "message_start":
                return self._on_message_start(parsed)
            case "content_block_start":
                return self._on_block_start(parsed)
            case "content_block_delta":
                return self._on_block_delta(parsed)
            case "message_delta":
                return self._on_message_delta(parsed)
            case "message_stop":
                self.state.done = True
                return self._usage_chunk()
            case "error":
                error = parsed.error
                message = error.message if error else "upstream reported an error in the stream"
                self.state.error = VendorError(message=message, type=error.type if error else None)
                return []
            case _:  # ping, content_block_stop, and event types added later
                return []

    def finish(self) -> list[bytes]:
        return self._usage_chunk() if self._started else []

    def _on_message_start(self, event: StreamEvent) -> list[bytes]:
        if event.message is not None:
            self._id = event.message.id
            self._model = event.message.model
            self._note_usage(event.message.usage)
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_block_start(self, event: StreamEvent) -> list[bytes]:
        block = event.content_block
        if block is None:
            return []
        if block.type == "text" and block.text:
            return [self._chunk({"content": block.text})]
        if block.type == "tool_use":
            index = self._tools[event.index] = len(self._tools)
            call = {"index": index, **_tool_call(block.id or "", block.name or "", "")}
            return [self._chunk({"tool_calls": [call]})]
        return []  # thinking, redacted_thinking and server-side blocks have no OpenAI form

    def _on_block_delta(self, event: StreamEvent) -> list[bytes]:
        delta = event.delta
        if delta is None:
            return []
        if delta.type == "text_delta" and delta.text:
            return [self._chunk({"content": delta.text})]
        if delta.type == "input_json_delta" and delta.partial_json and event.index in self._tools:
            call = {"index": self._tools[event.index], "function": {"arguments": delta.partial_json}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _on_message_delta(self, event: StreamEvent) -> list[bytes]:
        self._note_usage(event.usage)
        delta = event.delta
        reason = finish_reason(delta.stop_reason if delta else None)
        if reason is None or delta is None:
            return []
        self.state.finish_reason = reason
        return [self._chunk({}, reason, _matched_stop(delta.stop_reason, delta.stop_sequence))]

    def _note_usage(self, update: AnthropicUsage | None) -> None:
        self._usage = self._usage.merged(update)
        self.state.usage = self._usage.to_usage()

    def _usage_chunk(self) -> list[bytes]:
        if not self._include_usage or self._usage_sent:
            return []
        self._usage_sent = True
        return [self._envelope([], usage=self.state.usage.as_openai())]

    def _chunk(self, delta: dict[str, Any], reason: str | None = None, extra: dict[str, Any] | None = None) -> bytes:
        choice = delta_choice(0, delta, reason)
        if extra:
            choice.update(extra)
        return self._envelope([choice])

    def _envelope(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return chunk_payload(self._id, self._created, self._model, choices, **extra)


class AnthropicMessagesWire:
    """``drops``: request fields the provider's declaration leaves out rather than refusing."""

    name = "anthropic_messages"

    def __init__(self, drops: frozenset[str] = frozenset()) -> None:
        self.fields = OPTION_FIELDS.dropping(drops)

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        return orjson.dumps(encode_messages_request(request, upstream_model, self.fields))

    def decode_response(self, body: bytes, request: ChatRequest) -> ChatResult:
        message = AnthropicMessage.model_validate_json(body)
        completion = completion_from_message(message, int(time.time()))
        usage = message.usage.to_usage()
        return ChatResult(body=orjson.dumps(completion), usage=usage, finish_reason=finish_reason(message.stop_reason))

    def stream_translator(self, request: ChatRequest) -> AnthropicMessagesStream:
        return AnthropicMessagesStream(request)

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_anthropic_error(body)


ANTHROPIC_MESSAGES = AnthropicMessagesWire()
