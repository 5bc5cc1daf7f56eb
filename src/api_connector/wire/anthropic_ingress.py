"""The Anthropic Messages API as an ingress shape: Anthropic requests in, the chat capability's
canonical (OpenAI Chat Completions) request out, its answers back as Anthropic messages.

The opposite direction of ``anthropic_messages`` (which serves Anthropic as a provider), so a request
to an Anthropic target is translated twice and comes out as the caller wrote it, apart from what the
OpenAI shape has no room for:

- requests: ``system`` becomes a system message; ``tool_result`` blocks become ``tool`` messages ahead
  of the rest of their user turn; ``tool_use`` blocks become tool calls; images and PDFs become
  ``image_url`` and ``file`` parts; ``stop_sequences``, ``metadata.user_id``, ``tool_choice`` and
  ``disable_parallel_tool_use`` take their OpenAI names. Left out: ``top_k``, ``thinking`` and thinking
  blocks sent back, ``cache_control``, ``is_error`` on tool results, citation settings. Server tools,
  Files API ids and document URLs have no OpenAI form and are refused (400).
- answers: text, tool calls (id, name, input) and OpenAI-compatible vendors' reasoning (a thinking
  block, signed where the vendor passes a signature on) become content blocks; ``finish_reason``
  becomes ``stop_reason``, with the matched stop sequence where the answer names it; usage keeps cache
  reads apart from input tokens.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import UpstreamProtocolError, ValidationFailed
from api_connector.wire.anthropic_ingress_types import (
    Answer,
    AnswerChoice,
    Block,
    CountTokensRequest,
    MessageParam,
    Source,
    ToolChoiceParam,
    ToolParam,
)

JSON = dict[str, Any]
# Anthropic's system blocks are one prompt; the OpenAI shape takes it as one system message.
_SYSTEM_SEPARATOR = "\n\n"
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def chat_request(request: CountTokensRequest) -> ChatRequest:
    """The chat capability's request for an Anthropic one (a message or a token count)."""
    body: JSON = {"model": request.model, "messages": _messages(request)}
    if request.max_tokens is not None:
        # The current OpenAI name: reasoning models refuse ``max_tokens``; every wire reads either.
        body["max_completion_tokens"] = request.max_tokens
    if request.stream:
        body["stream"] = True
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop_sequences:
        body["stop"] = list(request.stop_sequences)
    if request.metadata is not None and request.metadata.user_id:
        body["user"] = request.metadata.user_id
    if request.tools:
        body["tools"] = [_tool(tool, f"tools.{i}") for i, tool in enumerate(request.tools)]
        if request.tool_choice is not None:
            _choose(body, request.tool_choice)
    try:
        return ChatRequest.from_json_obj(body)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationFailed(f"{where}: {first['msg']}", param=where or None) from None


def _messages(request: CountTokensRequest) -> list[JSON]:
    messages: list[JSON] = []
    system = _system(request.system)
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(request.messages):
        messages += _turn(message, f"messages.{i}")
    return messages


def _system(system: str | list[Block] | None) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    for i, block in enumerate(system):
        if block.type != "text":
            raise ValidationFailed("system blocks must be text blocks", param=f"system.{i}.type")
    return _SYSTEM_SEPARATOR.join(block.text or "" for block in system)


def _turn(message: MessageParam, where: str) -> list[JSON]:
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    if message.role == "assistant":
        return _assistant(message.content, where)
    return _user(message.content, where)


def _user(blocks: list[Block], where: str) -> list[JSON]:
    """Tool results as ``tool`` messages first (OpenAI wants them right after the calls), then the rest."""
    results: list[JSON] = []
    parts: list[JSON] = []
    for i, block in enumerate(blocks):
        at = f"{where}.content.{i}"
        if block.type == "tool_result":
            results.append(_tool_result(block, at))
        else:
            parts.append(_part(block, at))
    return [*results, {"role": "user", "content": parts}] if parts else results


def _tool_result(block: Block, where: str) -> JSON:
    if not block.tool_use_id:
        raise ValidationFailed("tool_result blocks need a tool_use_id", param=f"{where}.tool_use_id")
    content: str | list[JSON]
    if block.content is None or isinstance(block.content, str):
        content = block.content or ""
    else:
        content = [_part(inner, f"{where}.content.{j}") for j, inner in enumerate(block.content)]
    return {"role": "tool", "tool_call_id": block.tool_use_id, "content": content}


def _part(block: Block, where: str) -> JSON:
    """One user content part: text, an image, or a document."""
    if block.type == "text":
        return {"type": "text", "text": block.text or ""}
    if block.type == "image":
        return {"type": "image_url", "image_url": {"url": _image_url(block, where)}}
    if block.type == "document":
        return _document(block, where)
    raise ValidationFailed(f"content blocks of type {block.type!r} cannot be sent through the gateway", param=where)


def _image_url(block: Block, where: str) -> str:
    source = block.source if isinstance(block.source, Source) else None
    if source is not None and source.type == "base64" and source.media_type and source.data:
        return f"data:{source.media_type};base64,{source.data}"
    if source is not None and source.type == "url" and source.url:
        return source.url
    raise ValidationFailed("images must be base64 or URL sources (Files API ids have no place here)", param=where)


def _document(block: Block, where: str) -> JSON:
    source = block.source if isinstance(block.source, Source) else None
    if source is not None and source.type == "text" and source.data is not None:
        return {"type": "text", "text": source.data}
    if source is not None and source.type == "base64" and source.media_type and source.data:
        data = f"data:{source.media_type};base64,{source.data}"
        return {"type": "file", "file": {"filename": block.title or "document.pdf", "file_data": data}}
    raise ValidationFailed("documents must be base64 PDFs or plain text sources", param=f"{where}.source")


def _assistant(blocks: list[Block], where: str) -> list[JSON]:
    texts: list[str] = []
    calls: list[JSON] = []
    for i, block in enumerate(blocks):
        if block.type == "text":
            texts.append(block.text or "")
        elif block.type == "tool_use":
            calls.append(_tool_call(block, f"{where}.content.{i}"))
        elif block.type not in ("thinking", "redacted_thinking"):
            # Server tool calls and their results belong to Anthropic's own tools, which are not offered.
            raise ValidationFailed(
                f"assistant blocks of type {block.type!r} cannot be sent through the gateway",
                param=f"{where}.content.{i}",
            )
    if not texts and not calls:
        return []  # thinking only: nothing the OpenAI shape can carry
    message: JSON = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tool_call(block: Block, where: str) -> JSON:
    if not block.id or not block.name:
        raise ValidationFailed("tool_use blocks need an id and a name", param=where)
    arguments = orjson.dumps(block.input or {}).decode()
    return {"id": block.id, "type": "function", "function": {"name": block.name, "arguments": arguments}}


def _tool(tool: ToolParam, where: str) -> JSON:
    if tool.type not in (None, "custom"):
        raise ValidationFailed(
            f"Anthropic server tools ({tool.type!r}) are not offered through the gateway; "
            "declare the tool with a name and an input_schema",
            param=f"{where}.type",
        )
    if tool.input_schema is None:
        raise ValidationFailed("input_schema: Field required", param=f"{where}.input_schema")
    function: JSON = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description is not None:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _choose(body: JSON, choice: ToolChoiceParam) -> None:
    if choice.type == "tool":
        if not choice.name:
            raise ValidationFailed("tool_choice of type 'tool' needs a name", param="tool_choice.name")
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        body["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
    if choice.disable_parallel_tool_use and choice.type != "none":
        body["parallel_tool_calls"] = False


# -- answers ---------------------------------------------------------------------------------------


def usage_json(usage: Usage) -> JSON:
    """Anthropic's usage: input tokens exclude cache reads, which are counted apart.

    Cache writes are not known apart from other input tokens once an answer is in the OpenAI shape:
    they are inside ``input_tokens``, and ``cache_creation_input_tokens`` says null (unknown).
    """
    return {
        "input_tokens": max(0, usage.input_tokens - usage.cached_tokens),
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": None,
        "cache_read_input_tokens": usage.cached_tokens,
    }


def stop_reason(
    finish: str | None, matched: str | int | None, stop_sequences: list[str] | None, *, tool_use: bool, refused: bool
) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for an OpenAI finish reason and what else the answer said."""
    if refused and finish in (None, "stop", "content_filter"):
        return "refusal", None
    if tool_use and finish in (None, "stop", "tool_calls", "function_call"):
        return "tool_use", None  # some vendors say "stop" after tool calls; the caller must run them
    if finish == "stop" and isinstance(matched, str) and stop_sequences and matched in stop_sequences:
        return "stop_sequence", matched
    return _STOP_REASONS.get(finish or "stop", "end_turn"), None


def tool_input(arguments: str | None) -> JSON:
    """Tool call arguments as the ``input`` object; arguments that are no JSON object (cut off by the
    token limit) give an empty one, as nothing of them can be used."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def message_json(body: bytes, usage: Usage, stop_sequences: list[str] | None) -> JSON:
    """The Anthropic ``message`` for an OpenAI ``chat.completion`` (``usage`` as the gateway metered it)."""
    try:
        answer = Answer.model_validate_json(body)
    except ValidationError:
        raise UpstreamProtocolError("upstream answered with a chat completion that cannot be read") from None
    choice = answer.first()
    content, refused = _content(choice)
    stop, sequence = stop_reason(
        choice.finish_reason if choice else None,
        choice.stop_reason if choice else None,
        stop_sequences,
        tool_use=any(block["type"] == "tool_use" for block in content),
        refused=refused,
    )
    return {
        "id": answer.id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": sequence,
        "usage": usage_json(usage),
    }


def _content(choice: AnswerChoice | None) -> tuple[list[JSON], bool]:
    """The content blocks of an answer's message, and whether it was a refusal."""
    message = choice.message if choice else None
    if message is None:
        return [], False
    blocks: list[JSON] = []
    if message.thinking():
        blocks.append({"type": "thinking", "thinking": message.thinking(), "signature": message.signature()})
    text = message.text() or message.refusal or ""
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.tool_calls or ():
        function = call.function
        name = function.name if function and function.name else ""
        arguments = function.arguments if function else None
        blocks.append({"type": "tool_use", "id": call.id or "", "name": name, "input": tool_input(arguments)})
    return blocks, bool(message.refusal) and not message.text()


def estimate_input_tokens(request: ChatRequest) -> int:
    """The gateway's own estimate of a request's input tokens (about four characters a token, plus
    per-message overhead, and the tool definitions as JSON): for targets that cannot count."""
    tools = len(orjson.dumps([tool.model_dump(exclude_none=True) for tool in request.tools])) if request.tools else 0
    return request.prompt_tokens() + (tools + 3) // 4
