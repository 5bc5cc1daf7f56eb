"""OpenAI chat answers from vendors that drift from OpenAI's shape, brought back to it.

Such vendors answer content as a list of parts (text kept, thinking left out, as for every wire), tool
calls without ``type`` or, streamed, without ``index``, and usage on the chunk that carries the finish
reason (split off into OpenAI's own usage chunk, with empty choices). ``DriftingChatWire`` is the
OpenAI wire (with the vendor's ``ChatDialect`` for its requests) that repairs those; answers without
any of them are forwarded as they came. Also here: the error body with its fields at the top level
that such vendors (Mistral) answer with.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.core.chat import ChatRequest
from api_connector.wire.base import ChatResult, VendorError
from api_connector.wire.openai_chat import OpenAIChatStream, OpenAIChatWire, decode_openai_error
from api_connector.wire.sse import SSEEvent

Block = dict[str, Any]


# -- answers back in OpenAI's shape --------------------------------------------------------------------


def _text(content: object) -> object:
    """Content given as a list of parts, as the text of its text parts (thinking is left out)."""
    if not isinstance(content, list):
        return content
    return "".join(part["text"] for part in content if isinstance(part, dict) and part.get("type") == "text"
                   and isinstance(part.get("text"), str))


def _repair_message(message: Block, positions: dict[str, int] | None) -> bool:
    """In place: text content, tool calls with their ``type`` (and, streamed, their ``index``).
    Whether anything had to change."""
    changed = False
    if isinstance(message.get("content"), list):
        message["content"] = _text(message["content"])
        changed = True
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        if not isinstance(call, dict):
            continue
        if call.get("id") and "type" not in call:
            call["type"] = "function"
            changed = True
        if positions is not None and "index" not in call:
            # A call with an id starts a new one; a continuation without an id belongs to the last.
            key = call.get("id") or ""
            if key and key not in positions:
                positions[key] = len(positions)
            call["index"] = positions.get(key, max(len(positions) - 1, 0))
            changed = True
    return changed


# Lists where OpenAI has none, or lists to check; and (streamed) usage that may sit on a finish chunk.
_MAY_NEED = re.compile(rb'"(?:content|tool_calls)"\s*:\s*\[')
_MAY_NEED_STREAMED = re.compile(rb'"(?:content|tool_calls)"\s*:\s*\[|"usage"\s*:\s*\{')


def repair_completion(body: bytes) -> bytes:
    """A whole answer in OpenAI's shape; the bytes as they came when nothing needed it."""
    if _MAY_NEED.search(body) is None:
        return body
    completion = orjson.loads(body)
    if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
        return body
    changed = False
    for choice in completion["choices"]:
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            changed = _repair_message(choice["message"], None) or changed
    return orjson.dumps(completion) if changed else body


class _Chunk(BaseModel):
    """Just enough of a chunk to see whether it needs repair (the rest is kept as it came)."""

    model_config = ConfigDict(extra="allow")
    choices: list[Block] = []
    usage: Block | None = None


class DriftingChatStream(OpenAIChatStream):
    """The OpenAI stream translator over chunks first brought back to OpenAI's shape."""

    __slots__ = ("_positions",)

    def __init__(self, request: ChatRequest, reasoning_apart: bool = False) -> None:
        super().__init__(request, reasoning_apart)
        self._positions: dict[str, int] = {}  # tool call id -> its index, for vendors that send none

    def feed(self, event: SSEEvent) -> list[bytes]:
        out: list[bytes] = []
        for payload in self._repaired(event.raw):
            out += super().feed(SSEEvent(payload))
            if self.state.error is not None:
                break
        return out

    def feed_payloads(self, payloads: list[bytes]) -> list[bytes]:
        return super().feed_payloads([part for payload in payloads for part in self._repaired(payload)])

    def _repaired(self, payload: bytes) -> list[bytes]:
        if _MAY_NEED_STREAMED.search(payload) is None:
            return [payload]
        try:
            chunk = _Chunk.model_validate_json(payload)
        except ValidationError:
            return [payload]  # not JSON: the OpenAI translator reports it
        changed = False
        for choice in chunk.choices:
            if isinstance(choice.get("delta"), dict):
                changed = _repair_message(choice["delta"], self._positions) or changed
        head = chunk.model_dump(exclude={"choices", "usage"})
        if chunk.usage is None or not chunk.choices:
            if not changed:
                return [payload]
            usage = {"usage": chunk.usage} if chunk.usage is not None else {}
            return [orjson.dumps({**head, "choices": chunk.choices, **usage})]
        # Usage on the chunk that still has a choice: OpenAI sends it alone, after, with no choices.
        alone = {**head, "choices": [], "usage": chunk.usage}
        return [orjson.dumps({**head, "choices": chunk.choices}), orjson.dumps(alone)]


class DriftingChatWire(OpenAIChatWire):
    """The OpenAI wire, in a vendor's dialect, for a vendor whose answers drift from OpenAI's shape."""

    def decode_response(self, body: bytes, request: ChatRequest) -> ChatResult:
        try:
            repaired = repair_completion(body)
        except orjson.JSONDecodeError:
            raise ValueError("not JSON") from None
        return super().decode_response(repaired, request)

    def stream_translator(self, request: ChatRequest) -> DriftingChatStream:
        return DriftingChatStream(request, self.dialect is not None and self.dialect.reasoning_apart)


# -- error bodies with the fields at the top level ------------------------------------------------------


class _Problem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    loc: list[str | int] = []
    msg: str = ""


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    detail: list[_Problem] = []


class _FlatError(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message: str | _Detail | list[_Problem] | None = None
    detail: list[_Problem] | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


_LOCATION = re.compile(r"^(body|query|header)$")


def decode_flat_error(body: bytes) -> VendorError | None:
    """``{"object": "error", "message": ..., "type": ..., "code": ...}`` (Mistral), whose message is
    a text or a validation failure (``{"detail": [{loc, msg}]}``); the OpenAI envelope is read too."""
    said = decode_openai_error(body)
    if said is not None:
        return said
    try:
        flat = _FlatError.model_validate_json(body)
    except ValidationError:
        return None
    code = str(flat.code) if flat.code is not None else None
    message = flat.message
    problems = message.detail if isinstance(message, _Detail) else message if isinstance(message, list) else flat.detail
    if isinstance(message, str) and message:
        return VendorError(message, type=flat.type, code=code, param=flat.param)
    if problems:
        first = problems[0]
        where = ".".join(str(part) for part in first.loc if not _LOCATION.match(str(part))) or None
        return VendorError(f"{where}: {first.msg}" if where else first.msg, type=flat.type, code=code, param=where)
    return None
