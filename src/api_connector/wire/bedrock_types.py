"""AWS Bedrock Converse JSON, typed at the edge (camelCase on the wire, snake_case here).

Only what the translation into OpenAI shape reads is typed; everything else Bedrock sends (metrics,
traces, guardrail assessments, citations, ...) is ignored, so new fields never break decoding. Also
here: stop reasons as OpenAI finish reasons, Bedrock's error kinds with their documented statuses, and
the caller's OpenAI-shaped extras the translation reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError
from api_connector.wire.carried import ResponseFormat


class BedrockJSON(BaseModel):
    """Bedrock's JSON: camelCase names read into snake_case fields, whatever else it sends ignored."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class BedrockUsage(BedrockJSON):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0

    def to_usage(self) -> Usage:
        # Bedrock counts cache reads and writes apart from inputTokens (totalTokens adds all four);
        # OpenAI's prompt_tokens includes cached tokens and reports the cache hits inside it.
        prompt = self.input_tokens + self.cache_read_input_tokens + self.cache_write_input_tokens
        return Usage(input_tokens=prompt, output_tokens=self.output_tokens, cached_tokens=self.cache_read_input_tokens)


class ToolUse(BedrockJSON):
    tool_use_id: str = ""
    name: str = ""
    input: Any = None
    type: str | None = None

    @property
    def for_caller(self) -> bool:
        """A call the caller must carry out; Bedrock's own tools (``server_tool_use``, e.g. Nova's code
        interpreter) ran already and have no OpenAI form."""
        return self.type != "server_tool_use"


class ContentBlock(BedrockJSON):
    """One block of an answer: text, a tool call, or kinds with no OpenAI form (reasoning, ...)."""

    text: str | None = None
    tool_use: ToolUse | None = None


class _Message(BedrockJSON):
    content: list[ContentBlock] = []


class _Output(BedrockJSON):
    message: _Message = Field(default_factory=_Message)


class ConverseResponse(BedrockJSON):
    output: _Output
    stop_reason: str | None = None
    usage: BedrockUsage = Field(default_factory=BedrockUsage)


# -- ConverseStream events (the payload of each event-stream message, named by its :event-type) ----------


class _ToolStart(BedrockJSON):
    tool_use: ToolUse | None = None


class BlockStart(BedrockJSON):
    content_block_index: int = 0
    start: _ToolStart = Field(default_factory=_ToolStart)


class _ToolInput(BedrockJSON):
    input: str = ""


class _Delta(BedrockJSON):
    text: str | None = None
    tool_use: _ToolInput | None = None


class BlockDelta(BedrockJSON):
    content_block_index: int = 0
    delta: _Delta = Field(default_factory=_Delta)


class BlockStop(BedrockJSON):
    content_block_index: int = 0


class MessageStop(BedrockJSON):
    stop_reason: str | None = None


class Metadata(BedrockJSON):
    usage: BedrockUsage | None = None


# -- errors --------------------------------------------------------------------------------------------

# Bedrock's error kinds and the HTTP status its API reference gives each. Inside a stream an error has
# no status of its own: the documented one stands for it.
ERROR_STATUS = {
    "AccessDeniedException": 403,
    "InternalServerException": 500,
    "ModelErrorException": 424,
    "ModelNotReadyException": 429,
    "ModelStreamErrorException": 424,
    "ModelTimeoutException": 408,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 400,
    "ServiceUnavailableException": 503,
    "ThrottlingException": 429,
    "ValidationException": 400,
}


class _ErrorBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: str | None = None
    capital_message: str | None = Field(None, alias="Message")  # some AWS services capitalise it


def error_kind(raw: str | None) -> str | None:
    """An error type as Bedrock names it: the header's ``Kind:namespace`` without the namespace, and the
    stream's ``throttlingException`` with its first letter raised, as the API reference writes it."""
    if not raw:
        return None
    kind = raw.partition(":")[0].strip()
    return kind[:1].upper() + kind[1:] if kind else None


def bedrock_error(body: bytes, kind: str | None = None, fallback: str | None = None) -> VendorError | None:
    """``{"message": ...}`` with its kind (from a header or the stream) as a VendorError."""
    message: str | None = None
    if body:
        try:
            parsed = _ErrorBody.model_validate_json(body)
        except ValidationError:
            parsed = None
        if parsed is not None:
            message = parsed.message or parsed.capital_message
    message = message or fallback
    if message is None and kind is None:
        return None
    return VendorError(message=message or f"upstream reported {kind}", type=kind)


def header_error(headers: Mapping[str, str], body: bytes) -> VendorError | None:
    """An HTTP error answer: the kind in ``x-amzn-errortype``, the message in the body (or a header)."""
    kind = error_kind(headers.get("x-amzn-errortype"))
    return bedrock_error(body, kind, headers.get("x-amzn-errormessage"))


def stream_error(kind: str | None, body: bytes) -> VendorError:
    """An error sent inside a stream, with the status Bedrock documents for its kind."""
    said = bedrock_error(body, kind) or VendorError(message="upstream reported an error in the stream")
    said.status = ERROR_STATUS.get(kind or "")
    return said


_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop_reason: str | None) -> str | None:
    """OpenAI's finish reason; reasons it has no word for (malformed model output, ...) end as "stop"."""
    if stop_reason is None:
        return None
    return _FINISH_REASONS.get(stop_reason, "stop")


# -- the caller's OpenAI request: fields the translation needs beyond what ChatRequest types ------------


class _Caller(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CallerExtras(_Caller):
    response_format: ResponseFormat | None = None
    metadata: dict[str, str] | None = None


class InlineFile(_Caller):
    file_data: str | None = None
    filename: str | None = None


class FileContent(_Caller):
    file: InlineFile


class ToolName(_Caller):
    name: str


class NamedChoice(_Caller):
    function: ToolName
