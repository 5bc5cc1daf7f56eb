"""The gateway's canonical chat request: the OpenAI Chat Completions shape.

Callers speak it, OpenAI-compatible providers receive it almost untouched, other wires translate from
it. Only the fields the gateway or a translating wire needs are typed; anything else a caller sends is
kept (``extra="allow"``) and forwarded to OpenAI-compatible upstreams as is.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ImageURL(_Open):
    url: str
    detail: str | None = None


class ContentPart(_Open):
    type: str
    text: str | None = None
    image_url: ImageURL | None = None


class FunctionCall(_Open):
    name: str
    arguments: str = ""


class ToolCall(_Open):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text parts joined; images and other parts are left out."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class FunctionDefinition(_Open):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(_Open):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class _NamedFunction(_Open):
    name: str


class _NamedToolChoice(_Open):
    type: str = "function"
    function: _NamedFunction


class StreamOptions(_Open):
    include_usage: bool = False


class ChatRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: str | dict[str, Any] | None = None
    n: int | None = Field(None, ge=1, le=128)
    user: str | None = None

    # The caller's JSON as parsed, kept so OpenAI-compatible upstreams get it without re-serialising
    # the typed model (and with every field the gateway does not know about). A plain slot, not a
    # pydantic private attribute: those are looked up through __getattr__ at several microseconds a read.
    __slots__ = ("_caller_json", "_prompt_tokens")

    @classmethod
    def from_json_obj(cls, raw: dict[str, Any]) -> ChatRequest:
        request = cls.model_validate(raw)
        object.__setattr__(request, "_caller_json", raw)
        # Set now: an unset slot is read through pydantic's __getattr__, several times slower.
        object.__setattr__(request, "_prompt_tokens", -1)
        return request

    def wire_dict(self) -> dict[str, Any]:
        """A fresh top-level dict of the request as the caller sent it (nested values shared)."""
        try:
            return dict(self._caller_json)  # type: ignore[attr-defined]  # the slot, set by from_json_obj
        except AttributeError:  # built in code, not parsed from a caller's JSON
            return self.model_dump(exclude_none=True)

    def dumps(self) -> bytes:
        return orjson.dumps(self.wire_dict())

    @property
    def wants_usage_in_stream(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def named_tool(self) -> str | None:
        """The function ``tool_choice`` forces, if it names one (``{"type": "function", ...}``)."""
        if isinstance(self.tool_choice, dict):
            return _NamedToolChoice.model_validate(self.tool_choice).function.name
        return None

    def output_token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def prompt_tokens(self) -> int:
        """A rough count of the prompt's tokens (about four characters a token, plus per-message
        overhead), worked out once: routing (context windows) and limits (token reservations) both ask."""
        try:
            known: int = self._prompt_tokens  # type: ignore[attr-defined]  # the slot, -1 until counted
        except AttributeError:  # built in code, not parsed from a caller's JSON
            known = -1
        if known >= 0:
            return known
        chars = 0
        for message in self.messages:  # on every request a target's window or a token limit applies to
            content = message.content
            if isinstance(content, str):
                chars += len(content)
            elif content:
                chars += sum(len(part.text or "") for part in content if part.type == "text")
        count = (chars + 3) // 4 + 4 * len(self.messages) + 3
        object.__setattr__(self, "_prompt_tokens", count)
        return count
