"""An OpenAI Chat Completions request as a Gemini ``generateContent`` body (AI Studio and Vertex AI).

System and developer messages become ``systemInstruction``; the other turns become ``contents`` with
Gemini's roles (``user``, ``model``), consecutive turns of one role merged (tool results travel in a
user turn, all the results of one step together, as Gemini expects). Images are ``inlineData`` (data
URLs) or ``fileData`` (http(s) and gs:// URLs, which Google fetches itself; it must be told their
type). Sampling settings, stop sequences, ``n`` and the response format go in ``generationConfig``;
tools are ``functionDeclarations`` with their JSON Schema as ``parametersJsonSchema``.

Gemini 3 requires the ``thoughtSignature`` it attached to a function call to come back with that call
in the next request. OpenAI tool calls have no such field, so the answer's decoder appends it to the
tool call's id (``<id>__thought__<signature>``), which every client sends back as it got it; here it
is taken off again. Google's own OpenAI-compatible form (``extra_content.google.thought_signature``)
is read too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.core.chat import ChatMessage, ChatRequest, ContentPart, ToolCall, ToolDefinition
from api_connector.errors import ValidationFailed
from api_connector.wire.carried import CarriedFields, ResponseFormat, vendor_fields
from api_connector.wire.openai_shapes import data_url, tool_arguments

Block = dict[str, Any]
# Between a tool call's id and the thought signature carried with it (the separator LiteLLM uses too,
# so histories written through either come back intact).
THOUGHT_MARK = "__thought__"
# The image types Gemini reads, by the URL's extension: a fetched file's type must be declared.
_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
}
_FETCHED = ("https://", "http://", "gs://")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CallerExtras(_Lenient):
    """The caller's OpenAI fields the translation reads beyond those ``ChatRequest`` types."""

    response_format: ResponseFormat | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    reasoning_effort: str | None = None
    top_k: int | None = None
    generationConfig: dict[str, Any] | None = None  # Gemini's own name, as callers send it


# Gemini's own top-level request fields a caller may send in ``extra_body``: forwarded as they are
# (``labels`` is Vertex AI's); its own ``generationConfig`` entries are merged over the translated ones.
VENDOR_FIELDS = ("safetySettings", "cachedContent", "labels")
FIELDS = CarriedFields(
    vendor="Gemini",
    carried=frozenset(
        {"n", "presence_penalty", "frequency_penalty", "seed", "response_format", "reasoning_effort", "top_k",
         "generationConfig", *VENDOR_FIELDS}
    ),
    hints={
        "logprobs": "send responseLogprobs and logprobs in generationConfig (extra_body) for Gemini's own form",
        "top_logprobs": "send responseLogprobs and logprobs in generationConfig (extra_body) for Gemini's own form",
        "metadata": "Vertex AI takes labels (extra_body)",
    },
)
# Google's documented mapping of OpenAI's reasoning efforts to thinking budgets (its OpenAI-compatible
# endpoint's): "none" turns thinking off.
THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}


class _Google(_Lenient):
    thought_signature: str | None = None


class _ExtraContent(_Lenient):
    google: _Google | None = None


class _ToolCallExtras(_Lenient):
    extra_content: _ExtraContent | None = None


class _InputAudio(_Lenient):
    data: str
    format: str


class _File(_Lenient):
    file_data: str | None = None


class _MediaPart(_Lenient):
    input_audio: _InputAudio | None = None
    file: _File | None = None


def _inline(media_type: str, data: str) -> Block:
    return {"inlineData": {"mimeType": media_type, "data": data}}


def _image(url: str, param: str) -> Block:
    if url.startswith("data:"):
        return _inline(*data_url(url, param))
    if url.startswith(_FETCHED):
        path = urlsplit(url).path.lower()
        media_type = next((kind for ext, kind in _IMAGE_TYPES.items() if path.endswith(ext)), None)
        if media_type is None:
            raise ValidationFailed(
                "Google fetches image URLs itself and must be told their type: give a URL ending in "
                f"{', '.join(_IMAGE_TYPES)}, or send the image as a base64 data URL",
                param=param,
            )
        return {"fileData": {"mimeType": media_type, "fileUri": url}}
    raise ValidationFailed("image_url must be an http(s) or gs:// URL or a base64 data URL", param=param)


def _media(part: ContentPart, where: str) -> Block:
    media = _MediaPart.model_validate(part.model_dump())
    if part.type == "input_audio" and media.input_audio is not None:
        return _inline(f"audio/{media.input_audio.format}", media.input_audio.data)
    if part.type == "file" and media.file is not None and media.file.file_data is not None:
        return _inline(*data_url(media.file.file_data, f"{where}.file.file_data"))
    raise ValidationFailed(f"{part.type} parts must carry their data inline (file_data, input_audio)", param=where)


def _text(text: str) -> list[Block]:
    # An empty text part says nothing, and Vertex AI refuses one ("empty text parameter").
    return [{"text": text}] if text else []


def _content_parts(content: str | list[ContentPart] | None, param: str) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return _text(content)
    parts: list[Block] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if part.type == "text":
            parts += _text(part.text or "")
        elif part.type == "image_url" and part.image_url is not None:
            parts.append(_image(part.image_url.url, f"{where}.image_url.url"))
        elif part.type in ("input_audio", "file"):
            parts.append(_media(part, where))
        elif part.type != "refusal":  # an earlier refusal carries nothing the model needs back
            raise ValidationFailed(f"content parts of type {part.type!r} are not supported by Gemini", param=where)
    return parts


def split_call_id(call: ToolCall) -> tuple[str, str | None]:
    """(the call's own id, the thought signature that came with it, if any)."""
    call_id, _, signature = call.id.partition(THOUGHT_MARK)
    if not signature and call.model_extra:
        extras = _ToolCallExtras.model_validate(call.model_extra)
        google = extras.extra_content.google if extras.extra_content else None
        signature = (google.thought_signature or "") if google else ""
    return call_id, signature or None


def _function_call(call: ToolCall, param: str) -> Block:
    arguments = tool_arguments(call, f"{param}.function.arguments")
    call_id, signature = split_call_id(call)
    part: Block = {"functionCall": {"name": call.function.name, "args": arguments, "id": call_id}}
    if signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(message: ChatMessage, names: dict[str, str], param: str) -> Block:
    if not message.tool_call_id:
        raise ValidationFailed("tool messages need a tool_call_id", param=f"{param}.tool_call_id")
    call_id = message.tool_call_id.partition(THOUGHT_MARK)[0]
    name = names.get(call_id) or message.name
    if not name:
        raise ValidationFailed(
            "a tool message must answer a tool call of an earlier assistant message", param=f"{param}.tool_call_id"
        )
    text = message.text()
    try:
        parsed = orjson.loads(text) if text.startswith("{") else None
    except orjson.JSONDecodeError:
        parsed = None
    # Gemini takes a JSON object; a tool's text result goes under "output", its documented key.
    response = parsed if isinstance(parsed, dict) else {"output": text}
    return {"functionResponse": {"name": name, "response": response, "id": call_id}}


def _turn(message: ChatMessage, names: dict[str, str], param: str) -> tuple[str, list[Block]]:
    """The Gemini role and parts of one non-system OpenAI message."""
    if message.role == "user":
        return "user", _content_parts(message.content, f"{param}.content")
    if message.role == "assistant":
        parts = _text(message.text())
        for j, call in enumerate(message.tool_calls or ()):
            parts.append(_function_call(call, f"{param}.tool_calls[{j}]"))
            names[call.id.partition(THOUGHT_MARK)[0]] = call.function.name
        return "model", parts
    if message.role == "tool":
        return "user", [_function_response(message, names, param)]
    raise ValidationFailed(f"messages with role {message.role!r} are not supported by Gemini", param=param)


def convert_messages(messages: list[ChatMessage]) -> tuple[list[Block], list[Block]]:
    """The ``systemInstruction`` parts and the ``contents`` turns."""
    system: list[Block] = []
    turns: list[tuple[str, list[Block]]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for the results that answer them
    for i, message in enumerate(messages):
        if message.role in ("system", "developer"):
            system += _text(message.text())
            continue
        role, parts = _turn(message, names, f"messages[{i}]")
        if not parts:
            continue  # an empty turn is refused upstream; dropping it keeps the rest valid
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(parts)
        else:
            turns.append((role, parts))
    return system, [{"role": role, "parts": parts} for role, parts in turns]


def _response_format(extras: CallerExtras, config: Block) -> None:
    fmt = extras.response_format
    if fmt is None or fmt.type == "text":
        return
    if fmt.type not in ("json_object", "json_schema"):
        raise ValidationFailed(f"unknown response_format type {fmt.type!r}", param="response_format.type")
    config["responseMimeType"] = "application/json"
    if fmt.type == "json_schema":
        if fmt.json_schema is None or fmt.json_schema.schema_ is None:
            raise ValidationFailed("json_schema needs a schema", param="response_format.json_schema.schema")
        # OpenAI's schema is JSON Schema: Gemini takes it as such (responseSchema would need the OpenAPI
        # subset, which drops additionalProperties, $defs and more).
        config["responseJsonSchema"] = fmt.json_schema.schema_


def _thinking(extras: CallerExtras, config: Block) -> None:
    effort = extras.reasoning_effort
    if effort is None:
        return
    if effort not in THINKING_BUDGETS:
        raise FIELDS.refusal("reasoning_effort", f"Gemini has no thinking budget for {effort!r}")
    config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS[effort]}


def generation_config(request: ChatRequest) -> Block:
    config: Block = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    limit = request.output_token_limit()
    if limit:
        config["maxOutputTokens"] = limit
    if request.stop:
        config["stopSequences"] = [request.stop] if isinstance(request.stop, str) else list(request.stop)
    if request.n is not None and request.n > 1:
        config["candidateCount"] = request.n
    extras = CallerExtras.model_validate(request.model_extra or {})
    if extras.presence_penalty is not None:
        config["presencePenalty"] = extras.presence_penalty
    if extras.frequency_penalty is not None:
        config["frequencyPenalty"] = extras.frequency_penalty
    if extras.seed is not None:
        config["seed"] = extras.seed
    if extras.top_k is not None:
        config["topK"] = extras.top_k
    _response_format(extras, config)
    _thinking(extras, config)
    config.update(extras.generationConfig or {})
    return config


def _declaration(tool: ToolDefinition) -> Block:
    function = tool.function
    declaration: Block = {"name": function.name}
    if function.description is not None:
        declaration["description"] = function.description
    if function.parameters:
        # JSON Schema as OpenAI tools give it (the older ``parameters`` takes an OpenAPI subset only).
        declaration["parametersJsonSchema"] = function.parameters
    return declaration


def _tool_config(request: ChatRequest) -> Block | None:
    choice = request.tool_choice
    if choice is None:
        return None
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if isinstance(choice, str) and choice in modes:
        return {"functionCallingConfig": {"mode": modes[choice]}}
    try:
        name = request.named_tool()
    except ValidationError:
        name = None
    if name is None:
        raise ValidationFailed(f"unknown tool_choice {choice!r}", param="tool_choice")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def encode_generate_request(request: ChatRequest, fields: CarriedFields = FIELDS) -> Block:
    """The ``generateContent`` body for ``request``; a field ``fields`` does not let through is refused."""
    fields.check(request)
    system, contents = convert_messages(request.messages)
    body: Block = {"contents": contents, "generationConfig": generation_config(request)}
    if system:
        # Google's SDKs send the instruction as a user-role content; both APIs take it so.
        body["systemInstruction"] = {"role": "user", "parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(tool) for tool in request.tools]}]
        tool_config = _tool_config(request)
        if tool_config is not None:
            body["toolConfig"] = tool_config
    body.update(vendor_fields(request, VENDOR_FIELDS))
    return body
