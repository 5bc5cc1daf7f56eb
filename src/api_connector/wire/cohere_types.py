"""Cohere chat v2 JSON, typed at the edge: answers, stream events, usage, finish reasons, errors.

Only what the translation into the OpenAI shape reads is typed; citations, log probabilities and
fields added later are ignored. The caller's OpenAI-shaped extras that the translation reads are
typed here too.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError
from api_connector.wire.carried import ResponseFormat


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Units(_Lenient):
    # Cohere writes counts as JSON numbers that may carry a fraction part ("4.0").
    input_tokens: float | None = None
    output_tokens: float | None = None


class CohereUsage(_Lenient):
    billed_units: _Units | None = None
    tokens: _Units | None = None
    cached_tokens: float | None = None

    def to_usage(self) -> Usage:
        """What Cohere bills: ``billed_units``. Its ``tokens`` also count the prompt it adds of its own
        (hundreds of tokens on every call) and its ``cached_tokens`` are a share of those, not of the
        billed units; they are used, with the cache share, only when no billed units are given."""
        billed = self.billed_units
        if billed is not None and (billed.input_tokens or billed.output_tokens):
            return Usage(int(billed.input_tokens or 0), int(billed.output_tokens or 0))
        tokens = self.tokens or _Units()
        prompt = int(tokens.input_tokens or 0)
        return Usage(prompt, int(tokens.output_tokens or 0), min(int(self.cached_tokens or 0), prompt))


class CohereFunction(_Lenient):
    name: str = ""
    arguments: str | None = None


class CohereToolCall(_Lenient):
    id: str = ""
    function: CohereFunction = Field(default_factory=CohereFunction)


class CohereContent(_Lenient):
    type: str = "text"
    text: str | None = None


class CohereMessage(_Lenient):
    content: list[CohereContent] = []
    tool_plan: str | None = None
    tool_calls: list[CohereToolCall] = []


class CohereAnswer(_Lenient):
    id: str = ""
    message: CohereMessage = Field(default_factory=CohereMessage)
    finish_reason: str | None = None
    usage: CohereUsage = Field(default_factory=CohereUsage)


# -- stream events: ``{"type": ..., "index": ..., "delta": {"message": {...}} | {"finish_reason", "usage"}}``


class _DeltaContent(_Lenient):
    type: str | None = None
    text: str | None = None


class _DeltaToolCall(_Lenient):
    id: str | None = None
    function: CohereFunction | None = None


class _DeltaMessage(_Lenient):
    content: _DeltaContent | None = None
    tool_plan: str | None = None
    tool_calls: _DeltaToolCall | None = None

    @field_validator("content", "tool_calls", mode="before")
    @classmethod
    def _one(cls, value: object) -> object:
        # message-start carries the empty lists of the whole message; deltas carry one item.
        return None if isinstance(value, list) else value


class _EventDelta(_Lenient):
    message: _DeltaMessage | None = None
    finish_reason: str | None = None
    usage: CohereUsage | None = None
    error: str | None = None


class CohereEvent(_Lenient):
    type: str
    id: str | None = None
    index: int = 0
    delta: _EventDelta | None = None


# -- finish reasons and errors ------------------------------------------------------------------------

_FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
# Finish reasons that are failures, as the error type the classifier reads (ERROR: Cohere's trouble).
_FAILED = {"ERROR": "server_error", "TIMEOUT": "timeout"}


def finish_reason(reason: str | None) -> str:
    return _FINISH_REASONS.get(reason or "COMPLETE", "stop")


def failed_finish(reason: str | None, said: str | None = None) -> VendorError | None:
    """The failure a finish reason stands for (ERROR, TIMEOUT), or None for a real finish."""
    kind = _FAILED.get(reason or "")
    if kind is None:
        return None
    return VendorError(said or f"Cohere ended the answer with finish_reason {reason}", type=kind)


# -- the caller's OpenAI request: fields the translation reads beyond what ChatRequest types ----------

# Cohere's own request fields a caller may send (``extra_body``); forwarded as they are.
COHERE_ONLY = ("documents", "citation_options", "safety_mode", "strict_tools", "thinking", "k", "priority")


class CallerExtras(_Lenient):
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: ResponseFormat | None = None
