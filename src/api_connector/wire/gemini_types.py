"""Gemini ``generateContent`` JSON (Google AI Studio and Vertex AI), typed at the edge.

Only what the translation into the OpenAI shape reads is typed; everything else Google sends (safety
ratings, citations, grounding, logprobs, traffic type, ...) is ignored, so new fields never break
decoding. Google's JSON names fields in lowerCamelCase; its parsers also accept the proto's snake_case,
and some answers use it, so both spellings are read. Error bodies (``google.rpc.Status``) are read into
``VendorError`` here, with ``RetryInfo.retryDelay`` as ``retry_after``.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def _either(camel: str, snake: str) -> Any:
    return Field(None, validation_alias=AliasChoices(camel, snake))


class FunctionCall(_Lenient):
    name: str | None = None
    args: dict[str, Any] | None = None
    id: str | None = None


class Part(_Lenient):
    text: str | None = None
    thought: bool | None = None
    function_call: FunctionCall | None = _either("functionCall", "function_call")
    thought_signature: str | None = _either("thoughtSignature", "thought_signature")


class Content(_Lenient):
    role: str | None = None
    parts: list[Part] = []


class Candidate(_Lenient):
    content: Content | None = None
    finish_reason: str | None = _either("finishReason", "finish_reason")
    finish_message: str | None = _either("finishMessage", "finish_message")
    index: int = 0


class PromptFeedback(_Lenient):
    block_reason: str | None = _either("blockReason", "block_reason")
    block_reason_message: str | None = _either("blockReasonMessage", "block_reason_message")


class UsageMetadata(_Lenient):
    prompt: int | None = _either("promptTokenCount", "prompt_token_count")
    candidates: int | None = _either("candidatesTokenCount", "candidates_token_count")
    thoughts: int | None = _either("thoughtsTokenCount", "thoughts_token_count")
    tool_use_prompt: int | None = _either("toolUsePromptTokenCount", "tool_use_prompt_token_count")
    cached: int | None = _either("cachedContentTokenCount", "cached_content_token_count")

    def to_usage(self) -> Usage:
        # OpenAI's prompt_tokens include the cached ones (Gemini's promptTokenCount does too) and the
        # tokens a tool added to the prompt; its completion_tokens include reasoning, Gemini's
        # candidatesTokenCount does not: thoughts are counted apart.
        return Usage(
            input_tokens=(self.prompt or 0) + (self.tool_use_prompt or 0),
            output_tokens=(self.candidates or 0) + (self.thoughts or 0),
            cached_tokens=self.cached or 0,
        )


class RpcStatus(_Lenient):
    code: int | None = None
    message: str = ""
    status: str | None = None
    details: list[dict[str, Any]] = []


class GenerateResponse(_Lenient):
    """A whole answer, or one event of a stream (the same shape, each event a slice of the answer)."""

    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = _either("promptFeedback", "prompt_feedback")
    usage_metadata: UsageMetadata | None = _either("usageMetadata", "usage_metadata")
    model_version: str | None = _either("modelVersion", "model_version")
    response_id: str | None = _either("responseId", "response_id")
    # An error event inside a stream has no candidates, only this.
    error: RpcStatus | None = None


class _ErrorEnvelope(_Lenient):
    error: RpcStatus


class _Detail(_Lenient):
    type: str = Field("", alias="@type")
    reason: str | None = None
    retry_delay: str | None = _either("retryDelay", "retry_delay")
    field_violations: list[dict[str, Any]] | None = _either("fieldViolations", "field_violations")


def _seconds(duration: str | None) -> float | None:
    """A protobuf Duration in JSON ("34.4s") as seconds."""
    if not duration or not duration.endswith("s"):
        return None
    try:
        return max(0.0, float(duration[:-1]))
    except ValueError:
        return None


def vendor_error(status: RpcStatus) -> VendorError:
    """A ``google.rpc.Status``: its canonical status as the type, ErrorInfo's reason as the code, the
    field a BadRequest names as the param, and when to come back from RetryInfo."""
    error = VendorError(message=status.message or "upstream reported an error", type=status.status)
    for raw in status.details:
        try:
            detail = _Detail.model_validate(raw)
        except ValidationError:
            continue
        kind = detail.type.rsplit("/", 1)[-1]
        if kind == "google.rpc.ErrorInfo" and detail.reason:
            error.code = detail.reason
        elif kind == "google.rpc.RetryInfo":
            error.retry_after = _seconds(detail.retry_delay)
        elif kind == "google.rpc.BadRequest" and detail.field_violations:
            field = detail.field_violations[0].get("field")
            error.param = field if isinstance(field, str) else None
    return error


def decode_google_error(body: bytes) -> VendorError | None:
    """``{"error": {code, message, status, details}}``; Vertex streams answer errors as a one-item list."""
    try:
        envelope = _ErrorEnvelope.model_validate_json(body)
    except ValidationError:
        try:
            listed = [_ErrorEnvelope.model_validate(item) for item in _json_list(body)]
        except ValidationError:
            return None
        if not listed:
            return None
        envelope = listed[0]
    return vendor_error(envelope.error)


def _json_list(body: bytes) -> list[Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    return value if isinstance(value, list) else []


# Gemini's finish reasons as OpenAI's. Every safety-style stop (the candidate was withheld or cut by a
# filter) is content_filter; a stop with function calls becomes tool_calls where it is read.
_FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    "JAILBREAK": "content_filter",
}


def finish_reason(reason: str | None, called_tools: bool) -> str | None:
    """OpenAI's finish reason; None while the candidate goes on. Reasons OpenAI has no word for
    (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, ...) end the turn as a plain stop."""
    if reason is None:
        return None
    mapped = _FINISH_REASONS.get(reason, "stop")
    return "tool_calls" if mapped == "stop" and called_tools else mapped
