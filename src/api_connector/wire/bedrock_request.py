"""The canonical OpenAI chat request as a Bedrock Converse request body.

System and developer messages become ``system`` text blocks; the other turns must alternate user and
assistant, so consecutive turns of one role are merged (tool results travel in a user turn as
``toolResult`` blocks, tool calls in the assistant's as ``toolUse``); blank text is left out (Bedrock
refuses it). Images go inline (``image.source.bytes``, from base64 data URLs) or by ``s3://`` location,
files as ``document`` blocks. Sampling settings go in ``inferenceConfig``, tools and tool choice in
``toolConfig``, a JSON schema response format in ``outputConfig``. The model is in the path, not here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from pydantic import ValidationError

from api_connector.core.chat import ChatMessage, ChatRequest, ContentPart, ToolCall, ToolDefinition
from api_connector.errors import ValidationFailed
from api_connector.wire.bedrock_types import CallerExtras, FileContent, NamedChoice
from api_connector.wire.carried import CarriedFields, vendor_fields

Block = dict[str, Any]

# Most Bedrock models take temperatures up to 1; OpenAI accepts up to 2.
_MAX_TEMPERATURE = 1.0
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(.*)", re.DOTALL)
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
# What a document's name may hold on Bedrock: letters, digits, single spaces, hyphens, brackets.
_NAME_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9\-()\[\] ]+")


def _inline(url: str, param: str) -> tuple[str, str]:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL."""
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise ValidationFailed("data URLs must look like data:<media type>;base64,<data>", param=param)
    return match.group(1).lower(), match.group(2)


def _image_block(url: str, param: str) -> Block:
    if url.startswith("s3://"):
        return {"image": {"format": _format_of_name(url, param), "source": {"s3Location": {"uri": url}}}}
    if url.startswith(("https://", "http://")):
        raise ValidationFailed(
            "Bedrock takes images inline, not by http(s) URL: send a base64 data URL (data:image/png;base64,...)"
            " or an s3:// location",
            param=param,
        )
    media_type, data = _inline(url, param)
    image_format = _IMAGE_FORMATS.get(media_type)
    if image_format is None:
        raise ValidationFailed(f"Bedrock takes PNG, JPEG, GIF or WebP images, not {media_type}", param=param)
    return {"image": {"format": image_format, "source": {"bytes": data}}}


def _format_of_name(url: str, param: str) -> str:
    extension = url.rpartition(".")[2].lower()
    image_format = {"jpg": "jpeg"}.get(extension, extension)
    if image_format not in _IMAGE_FORMATS.values():
        raise ValidationFailed("an s3:// image must end in .png, .jpeg, .jpg, .gif or .webp", param=param)
    return image_format


def _document_block(part: ContentPart, number: int, param: str) -> Block:
    try:
        file = FileContent.model_validate(part.model_dump()).file
    except ValidationError:
        raise ValidationFailed("a file part needs a file object", param=param) from None
    if file.file_data is None:
        raise ValidationFailed("only inline files (file_data) can be sent to Bedrock", param=f"{param}.file")
    media_type, data = _inline(file.file_data, f"{param}.file.file_data")
    document_format = _DOCUMENT_FORMATS.get(media_type)
    if document_format is None:
        raise ValidationFailed(f"Bedrock does not take documents of type {media_type}", param=f"{param}.file")
    stem = (file.filename or "").rsplit(".", 1)[0]
    name = " ".join(_NAME_NOT_ALLOWED.sub(" ", stem).split()) or f"Document {number}"
    return {"document": {"name": name, "format": document_format, "source": {"bytes": data}}}


def _text(text: str) -> list[Block]:
    # Bedrock refuses blank text blocks.
    return [{"text": text}] if text.strip() else []


class _Blocks:
    """Content blocks of one conversation; counts documents, whose names must differ."""

    __slots__ = ("documents",)

    def __init__(self) -> None:
        self.documents = 0

    def content(self, content: str | list[ContentPart] | None, param: str) -> list[Block]:
        if content is None:
            return []
        if isinstance(content, str):
            return _text(content)
        blocks: list[Block] = []
        for i, part in enumerate(content):
            where = f"{param}[{i}]"
            if part.type == "text":
                blocks += _text(part.text or "")
            elif part.type == "image_url" and part.image_url is not None:
                blocks.append(_image_block(part.image_url.url, f"{where}.image_url.url"))
            elif part.type == "file":
                self.documents += 1
                blocks.append(_document_block(part, self.documents, where))
            elif part.type != "refusal":  # an earlier refusal carries nothing the model needs back
                raise ValidationFailed(f"content parts of type {part.type!r} are not supported by Bedrock", param=where)
        return blocks

    def tool_result(self, message: ChatMessage, param: str) -> Block:
        if not message.tool_call_id:
            raise ValidationFailed("tool messages need a tool_call_id", param=param)
        if isinstance(message.content, str):
            content = [{"text": message.content}]
        else:
            content = self.content(message.content, f"{param}.content")
        return {"toolResult": {"toolUseId": message.tool_call_id, "content": content}}

    def turn(self, message: ChatMessage, param: str) -> tuple[str, list[Block]]:
        if message.role == "user":
            return "user", self.content(message.content, f"{param}.content")
        if message.role == "assistant":
            blocks = self.content(message.content, f"{param}.content")
            for j, call in enumerate(message.tool_calls or ()):
                blocks.append(_tool_use(call, f"{param}.tool_calls[{j}].function.arguments"))
            return "assistant", blocks
        if message.role == "tool":
            return "user", [self.tool_result(message, param)]
        raise ValidationFailed(f"messages with role {message.role!r} are not supported by Bedrock", param=param)


def _tool_use(call: ToolCall, param: str) -> Block:
    raw = call.function.arguments
    try:
        arguments = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise ValidationFailed("tool call arguments must be JSON", param=param) from None
    return {"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": arguments}}


def convert_messages(messages: list[ChatMessage]) -> tuple[list[Block], list[Block]]:
    """The ``system`` blocks and the alternating user/assistant ``messages``."""
    system: list[Block] = []
    turns: list[tuple[str, list[Block]]] = []
    blocks = _Blocks()
    for i, message in enumerate(messages):
        if message.role in ("system", "developer"):
            system += _text(message.text())
            continue
        role, content = blocks.turn(message, f"messages[{i}]")
        if not content:
            continue  # an empty turn is refused upstream; dropping it keeps the rest valid
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(content)
        else:
            turns.append((role, content))
    return system, [{"role": role, "content": content} for role, content in turns]


def _tool(tool: ToolDefinition) -> Block:
    function = tool.function
    spec: Block = {"name": function.name, "inputSchema": {"json": function.parameters or {"type": "object"}}}
    if function.description is not None:
        spec["description"] = function.description
    if function.strict is not None:
        spec["strict"] = function.strict
    return {"toolSpec": spec}


def _tool_choice(choice: str | dict[str, Any] | None) -> Block | None:
    if choice is None:
        return None  # Bedrock's default is the model's choice, as OpenAI's is
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict):
        try:
            return {"tool": {"name": NamedChoice.model_validate(choice).function.name}}
        except ValidationError:
            raise ValidationFailed("tool_choice must name a function", param="tool_choice") from None
    raise ValidationFailed(f"unknown tool_choice {choice!r}", param="tool_choice")


def _holds_tool_blocks(messages: list[Block]) -> bool:
    return any("toolUse" in block or "toolResult" in block for message in messages for block in message["content"])


def tool_config(request: ChatRequest, messages: list[Block]) -> Block | None:
    if not request.tools:
        return None
    if request.tool_choice == "none":
        if _holds_tool_blocks(messages):
            # Bedrock needs the tools declared once the conversation holds tool calls, and cannot be told
            # not to call one: sending them would let the model do what the caller forbade.
            raise ValidationFailed(
                "Bedrock cannot forbid tool calls in a conversation that holds some: leave tool_choice out",
                param="tool_choice",
            )
        return None
    config: Block = {"tools": [_tool(tool) for tool in request.tools]}
    choice = _tool_choice(request.tool_choice)
    if choice is not None:
        config["toolChoice"] = choice
    return config


def inference_config(request: ChatRequest) -> Block:
    config: Block = {}
    limit = request.output_token_limit()
    if limit is not None:
        config["maxTokens"] = limit
    if request.temperature is not None:
        config["temperature"] = min(request.temperature, _MAX_TEMPERATURE)
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    return config


# Bedrock's own top-level Converse fields a caller may send in ``extra_body``: forwarded as they are
# (``additionalModelRequestFields`` carries a model's own settings: Claude's ``top_k`` or ``thinking``).
VENDOR_FIELDS = (
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "guardrailConfig",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
)
_MODEL_FIELDS = "send the model's own setting in additionalModelRequestFields (extra_body)"
FIELDS = CarriedFields(
    vendor="Bedrock",
    carried=frozenset({"response_format", "metadata", *VENDOR_FIELDS}),
    hints={
        "n": "Bedrock answers one choice per request: n must be 1",
        "top_k": _MODEL_FIELDS,
        "reasoning_effort": _MODEL_FIELDS,
        "seed": _MODEL_FIELDS,
    },
)


def _extras(request: ChatRequest) -> CallerExtras:
    try:
        return CallerExtras.model_validate(request.model_extra or {})
    except ValidationError as exc:
        where = str(exc.errors(include_url=False)[0]["loc"][0])
        raise ValidationFailed(f"{where} is malformed", param=where) from None


def output_config(extras: CallerExtras) -> Block | None:
    """A ``json_schema`` response format as Bedrock's structured output; JSON without a schema has no
    Bedrock form and is refused."""
    form = extras.response_format
    if form is None or form.type == "text":
        return None
    if form.type != "json_schema" or form.json_schema is None:
        raise FIELDS.refusal("response_format", f"Bedrock's structured output needs a json_schema, not {form.type!r}")
    schema = form.json_schema
    # Bedrock takes the schema as JSON text.
    structure: Block = {"name": schema.name or "output", "schema": json.dumps(schema.schema_ or {})}
    if schema.description is not None:
        structure["description"] = schema.description
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": structure}}}


def encode_converse_request(request: ChatRequest, fields: CarriedFields = FIELDS) -> Block:
    """The Converse body for ``request``; a field ``fields`` does not let through is refused."""
    fields.check(request)
    extras = _extras(request)
    system, messages = convert_messages(request.messages)
    body: Block = {"messages": messages}
    if system:
        body["system"] = system
    config = inference_config(request)
    if config:
        body["inferenceConfig"] = config
    tools = tool_config(request, messages)
    if tools is not None:
        body["toolConfig"] = tools
    output = output_config(extras)
    if output is not None:
        body["outputConfig"] = output
    if extras.metadata:
        # Bedrock's request metadata: key-value pairs kept with the invocation's log, as OpenAI's are.
        body["requestMetadata"] = extras.metadata
    body.update(vendor_fields(request, VENDOR_FIELDS))
    return body
