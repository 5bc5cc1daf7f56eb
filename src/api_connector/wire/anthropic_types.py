"""Anthropic Messages API JSON, typed at the edge.

Only what the translation into OpenAI shape reads is typed; everything else the vendor sends (service
tier, cache breakdowns, server-tool blocks, ...) is ignored, so new fields never break decoding.
The caller's OpenAI-shaped extras that the translation reads are typed here too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError
from api_connector.wire.carried import ResponseFormat


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AnthropicUsage(_Lenient):
    # None means "not reported in this event": stream events carry partial usage that is merged.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None

    def merged(self, update: AnthropicUsage | None) -> AnthropicUsage:
        """This usage with the fields ``update`` reports (stream usage is cumulative, not additive)."""
        if update is None:
            return self
        return self.model_copy(update=update.model_dump(exclude_none=True))

    def to_usage(self) -> Usage:
        # Anthropic counts cache reads and writes apart from input_tokens; OpenAI's prompt_tokens
        # includes cached tokens and reports the cache hits inside it, so add them up.
        read = self.cache_read_input_tokens or 0
        written = self.cache_creation_input_tokens or 0
        prompt = (self.input_tokens or 0) + read + written
        return Usage(input_tokens=prompt, output_tokens=self.output_tokens or 0, cached_tokens=read)


class ContentBlock(_Lenient):
    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None


class AnthropicMessage(_Lenient):
    id: str = ""
    model: str = ""
    content: list[ContentBlock] = []
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: AnthropicUsage = Field(default_factory=AnthropicUsage)


class TokenCount(_Lenient):
    """The answer of ``/v1/messages/count_tokens``."""

    input_tokens: int = Field(ge=0)


class EventDelta(_Lenient):
    """The ``delta`` of a stream event: a content block delta or a message delta (one flat type)."""

    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None


class ErrorDetail(_Lenient):
    type: str | None = None
    message: str


class StreamEvent(_Lenient):
    """Any event of a Messages stream; which fields are set depends on ``type``."""

    type: str
    message: AnthropicMessage | None = None
    index: int = 0
    content_block: ContentBlock | None = None
    delta: EventDelta | None = None
    usage: AnthropicUsage | None = None
    error: ErrorDetail | None = None


class _ErrorEnvelope(_Lenient):
    error: ErrorDetail


def decode_anthropic_error(body: bytes) -> VendorError | None:
    """``{"type": "error", "error": {"type": ..., "message": ...}}`` as a VendorError."""
    try:
        envelope = _ErrorEnvelope.model_validate_json(body)
    except ValidationError:
        return None
    return VendorError(message=envelope.error.message, type=envelope.error.type)


_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # A server tool loop paused by the vendor: the turn ended from the caller's point of view.
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return _FINISH_REASONS.get(stop_reason, "stop")


# The caller's OpenAI request: fields the translation needs beyond what ChatRequest types.


class CallerExtras(_Lenient):
    parallel_tool_calls: bool | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None
    reasoning_effort: str | None = None
    response_format: ResponseFormat | None = None
    output_config: dict[str, Any] | None = None


class _FunctionName(_Lenient):
    name: str


class NamedToolChoice(_Lenient):
    type: str
    function: _FunctionName


class _FileData(_Lenient):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Lenient):
    file: _FileData
