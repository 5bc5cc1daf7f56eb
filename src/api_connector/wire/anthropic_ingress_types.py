"""The Anthropic Messages request as callers send it to the gateway, and the OpenAI answer fields read
to render it back: typed at the edge.

Requests are validated as Anthropic validates them where the gateway relies on a field (``max_tokens``
required, ``temperature`` within 0..1, roles user and assistant); fields the translation does not
carry (``top_k``, ``thinking``, ``cache_control``, ``service_tier``, ...) are accepted and ignored, so
clients that send them keep working. The OpenAI side is read leniently: vendors add fields freely.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- the caller's Anthropic request ------------------------------------------------------------------


class Source(_Lenient):
    """An image's or a document's ``source``: inline (base64, text), a URL, or a Files API id."""

    type: str
    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    file_id: str | None = None
    content: str | list[Block] | None = None  # a "content" document source: its own blocks


class Block(_Lenient):
    """One content block of a message; which fields are set depends on ``type``."""

    type: str
    text: str | None = None
    source: Source | str | None = None  # a search result's source is its URL
    title: str | None = None  # documents
    # tool_use
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None
    # tool_result
    tool_use_id: str | None = None
    content: str | list[Block] | None = None
    is_error: bool | None = None


class MessageParam(_Lenient):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class ToolParam(_Lenient):
    """A client tool (``type`` absent or "custom"); Anthropic's server tools name a versioned type."""

    name: str = Field(min_length=1)
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class ToolChoiceParam(_Lenient):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(_Lenient):
    user_id: str | None = None


class CountTokensRequest(_Lenient):
    """``POST /v1/messages/count_tokens``: what a message would be, without ``max_tokens``."""

    model: str = Field(min_length=1)
    messages: list[MessageParam] = Field(min_length=1)
    system: str | list[Block] | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoiceParam | None = None
    max_tokens: int | None = Field(None, ge=1)
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)  # no OpenAI form: ignored
    metadata: Metadata | None = None
    stream: bool = False


class MessagesRequest(CountTokensRequest):
    """``POST /v1/messages``."""

    max_tokens: int = Field(ge=1)


# -- what the chat capability answered (OpenAI shape) -------------------------------------------------


class _TextPart(_Lenient):
    type: str = "text"
    text: str | None = None


def _joined(content: str | list[_TextPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text or "" for part in content if part.type == "text")


class FunctionCall(_Lenient):
    name: str | None = None
    arguments: str | None = None


class ToolCall(_Lenient):
    index: int = 0  # streams: which call a delta belongs to
    id: str | None = None
    function: FunctionCall | None = None


class ReasoningDetail(_Lenient):
    """OpenRouter's ``reasoning_details``: the reasoning's pieces, with the vendor's signature."""

    type: str | None = None
    signature: str | None = None


class AnswerMessage(_Lenient):
    """A completion's ``message`` or a chunk's ``delta``: the same fields, whole or in pieces.

    ``reasoning_content`` (DeepSeek, vLLM) and ``reasoning`` (OpenRouter, Groq, Cerebras) are the
    OpenAI-compatible vendors' ways of showing a model's thinking.
    """

    content: str | list[_TextPart] | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    reasoning_details: list[ReasoningDetail] | None = None
    tool_calls: list[ToolCall] | None = None

    def text(self) -> str:
        return _joined(self.content)

    def thinking(self) -> str:
        return self.reasoning_content or self.reasoning or ""

    def signature(self) -> str:
        return "".join(detail.signature or "" for detail in self.reasoning_details or ())


class AnswerChoice(_Lenient):
    index: int = 0
    message: AnswerMessage | None = None
    delta: AnswerMessage | None = None
    finish_reason: str | None = None
    # vLLM's extension, also written by the Anthropic wire: the stop sequence that ended the answer.
    stop_reason: str | int | None = None


class Answer(_Lenient):
    """A ``chat.completion`` or one ``chat.completion.chunk``."""

    id: str = ""
    model: str = ""
    choices: list[AnswerChoice] = []

    def first(self) -> AnswerChoice | None:
        return next((choice for choice in self.choices if choice.index == 0), None)


Source.model_rebuild()
Block.model_rebuild()
