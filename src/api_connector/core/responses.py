"""OpenAI's Responses API request, typed where the gateway reads it, and the answer it gets back.

Providers that speak the Responses API receive the caller's JSON as it was sent (``wire_dict``); for
the others the request is translated into the canonical chat request (``wire.responses_chat``). Only
what the gateway or that translation reads is typed; every other field is kept (``extra="allow"``).

Input items are one flat lenient type (``InputItem``) whose set fields depend on its ``type``: a
message (``role`` and ``content``, ``type`` "message" or left out), a ``function_call`` (``call_id``,
``name``, ``arguments``), a ``function_call_output`` (``call_id``, ``output``), a ``reasoning`` item,
and the kinds only a Responses provider understands (hosted tools' calls, item references).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from api_connector.core.usage import Usage


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class InputPart(_Open):
    """A content part: ``input_text`` / ``output_text`` (text), ``input_image``, ``input_file``, ``refusal``."""

    type: str
    text: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None
    file_data: str | None = None
    filename: str | None = None
    refusal: str | None = None


class InputItem(_Open):
    type: str | None = None  # None: an "easy" message ({role, content})
    id: str | None = None
    role: str | None = None
    content: str | list[InputPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    # A function's output is text or parts; other tools' outputs may be objects (a computer screenshot).
    output: str | list[InputPart] | dict[str, Any] | None = None
    encrypted_content: str | None = None

    @property
    def kind(self) -> str:
        return self.type or "message"


class FunctionTool(_Open):
    """A tool: a ``function`` one is typed; hosted tools (web search, file search, ...) keep their fields."""

    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class TextFormat(_Open):
    type: str = "text"  # text | json_schema | json_object
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class TextConfig(_Open):
    format: TextFormat | None = None


class ReasoningConfig(_Open):
    effort: str | None = None
    summary: str | None = None


class ResponsesRequest(_Open):
    model: str = Field(min_length=1)
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    metadata: dict[str, str] | None = None
    stream: bool = False
    store: bool | None = None
    previous_response_id: str | None = None
    user: str | None = None
    # Only a provider with the Responses API can serve these (they are refused on translation).
    background: bool | None = None
    conversation: Any = None
    prompt: Any = None

    # The caller's JSON as parsed (forwarded as is to Responses providers); whether the gateway keeps
    # this answer (set by the route: a translated answer says so in its ``store`` field); and the
    # stored response this one continues (``previous_response_id``, resolved by the route).
    __slots__ = ("_caller_json", "_kept", "_previous")

    @classmethod
    def from_json_obj(cls, raw: dict[str, Any]) -> ResponsesRequest:
        request = cls.model_validate(raw)
        object.__setattr__(request, "_caller_json", raw)
        return request

    def wire_dict(self) -> dict[str, Any]:
        """A fresh top-level dict of the request as the caller sent it (nested values shared)."""
        try:
            return dict(self._caller_json)  # type: ignore[attr-defined]  # the slot, set by from_json_obj
        except AttributeError:  # built in code, not parsed from a caller's JSON
            return self.model_dump(exclude_none=True, by_alias=True)

    @property
    def kept(self) -> bool:
        return bool(getattr(self, "_kept", False))

    def keep(self) -> None:
        object.__setattr__(self, "_kept", True)

    @property
    def previous_id(self) -> str | None:
        return getattr(self, "_previous", None)

    def input_items(self) -> list[dict[str, Any]]:
        """The input as a list of items (a string is one user message), as the caller sent them."""
        raw = self.wire_dict().get("input")
        if raw is None:
            return []
        if isinstance(raw, str):
            return [{"type": "message", "role": "user", "content": raw}]
        return list(raw)

    def continued(self, history: list[dict[str, Any]]) -> ResponsesRequest:
        """This request after ``history`` (an earlier response's input and output items): what the
        provider is sent when ``previous_response_id`` named that response."""
        body = self.wire_dict()
        body.pop("previous_response_id", None)
        body["input"] = [*history, *self.input_items()]
        request = ResponsesRequest.from_json_obj(body)
        object.__setattr__(request, "_previous", self.previous_response_id)
        return request

    def prompt_tokens(self) -> int:
        """A rough count of the prompt's tokens (about four characters a token, plus per-item overhead)."""
        chars = len(self.instructions or "")
        items = self.input if isinstance(self.input, list) else []
        if isinstance(self.input, str):
            chars += len(self.input)
        for item in items:
            chars += len(item.arguments or "") + _text_length(item.content) + _text_length(item.output)
        return (chars + 3) // 4 + 4 * (len(items) + 1) + 3

    def dumps(self) -> bytes:
        return orjson.dumps(self.wire_dict())


class _StoredAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    output: list[dict[str, Any]] = []


def history(items: list[Any], response: Any) -> list[Any]:
    """What a request continuing ``response`` (``previous_response_id``) is sent before its own input:
    the items that response answered, then its output.

    Reasoning items without their ``encrypted_content`` are left out: they only name state the provider
    kept, which another provider (after failover), or the same one asked not to store, does not have.
    """
    kept = list(items)
    for raw in _StoredAnswer.model_validate(response).output:
        item = InputItem.model_validate(raw)
        if item.kind != "reasoning" or item.encrypted_content:
            kept.append(raw)
    return kept


def _text_length(content: str | list[InputPart] | dict[str, Any] | None) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(part.text or "") for part in content)
    return 0


@dataclass(slots=True)
class ResponsesResult:
    """A Responses ``response`` object, already serialised, and its usage."""

    body: bytes
    usage: Usage
    status: str | None = None


def new_id(kind: str) -> str:
    """An id of the Responses API's form (``resp_...``, ``msg_...``, ``fc_...``) for translated answers."""
    return f"{kind}_{uuid.uuid4().hex}"
