"""OpenAI Chat Completions as vendors that drift from it speak it: the differences declared as data.

A ``Dialect`` says what a vendor's request lacks or calls otherwise: OpenAI fields it refuses (some
vendors answer 422 to any field they do not know), fields it names differently, ``tool_choice`` values
of its own, the fields each role's message may carry and roles it does not know, the form its tool call
ids must take (ids from another vendor in a conversation are mapped, the same id always to the same
one), whether it takes ``stream_options``, and its error body. ``DialectChatWire`` is the OpenAI wire
with those applied to requests, and with answers brought back to OpenAI's shape where such vendors
drift: content given as a list of parts (text kept, thinking left out, as for every wire), tool calls
without ``type`` or, streamed, without ``index``, and usage on the chunk that carries the finish
reason (split off into OpenAI's own usage chunk, with empty choices). Answers without any of those
are forwarded as they came.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.core.chat import ChatRequest
from api_connector.wire.base import ChatResult, VendorError
from api_connector.wire.openai_chat import OpenAIChatStream, OpenAIChatWire, decode_openai_error
from api_connector.wire.sse import SSEEvent

Block = dict[str, Any]
_ALPHABET = string.ascii_letters + string.digits


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Dialect:
    dropped: frozenset[str] = frozenset()  # OpenAI request fields the vendor refuses
    renamed: Mapping[str, str] = field(default_factory=_frozen)  # OpenAI name -> the vendor's
    tool_choices: Mapping[str, str] = field(default_factory=_frozen)  # OpenAI value -> the vendor's
    roles: Mapping[str, str] = field(default_factory=_frozen)  # OpenAI role -> the vendor's
    message_fields: Mapping[str, frozenset[str]] | None = None  # per role, the fields kept; None: all
    tool_call_id_length: int | None = None  # ids must be this many letters and digits
    stream_usage_option: bool = True  # whether ``stream_options.include_usage`` may be sent
    errors: Callable[[bytes], VendorError | None] = decode_openai_error


def _tool_call_id(call_id: object, length: int | None) -> object:
    """An id in the vendor's form: kept if it has it, else a stable one derived from it."""
    if length is None or not isinstance(call_id, str):
        return call_id
    if len(call_id) == length and call_id.isascii() and call_id.isalnum():
        return call_id
    digest = int.from_bytes(hashlib.sha256(call_id.encode("utf-8")).digest(), "big")
    letters = []
    for _ in range(length):
        digest, rest = divmod(digest, len(_ALPHABET))
        letters.append(_ALPHABET[rest])
    return "".join(letters)


def _message(raw: object, dialect: Dialect) -> object:
    """A request message with the dialect's roles, fields and tool call ids (a new dict: the caller's
    request is kept as sent, for the cache key and dead letters)."""
    if not isinstance(raw, dict):
        return raw
    role = dialect.roles.get(raw.get("role", ""), raw.get("role"))
    kept = dialect.message_fields.get(role or "") if dialect.message_fields is not None else None
    message = {k: v for k, v in raw.items() if kept is None or k in kept}
    message["role"] = role
    length = dialect.tool_call_id_length
    if length is not None:
        if "tool_call_id" in message:
            message["tool_call_id"] = _tool_call_id(message["tool_call_id"], length)
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            message["tool_calls"] = [
                {**call, "id": _tool_call_id(call.get("id"), length)} if isinstance(call, dict) else call
                for call in calls
            ]
    return message


def encode_dialect_request(request: ChatRequest, upstream_model: str, dialect: Dialect) -> Block:
    body = request.wire_dict()
    body["model"] = upstream_model
    for name, theirs in dialect.renamed.items():
        if name in body:
            value = body.pop(name)
            body.setdefault(theirs, value)
    for name in dialect.dropped:
        body.pop(name, None)
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice in dialect.tool_choices:
        body["tool_choice"] = dialect.tool_choices[choice]
    if dialect.roles or dialect.message_fields is not None or dialect.tool_call_id_length is not None:
        body["messages"] = [_message(message, dialect) for message in body["messages"]]
    if request.stream and dialect.stream_usage_option:
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return body


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


class DialectChatStream(OpenAIChatStream):
    """The OpenAI stream translator over chunks first brought back to OpenAI's shape."""

    __slots__ = ("_positions",)

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
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


class DialectChatWire(OpenAIChatWire):
    def __init__(self, name: str, dialect: Dialect) -> None:
        self.name = name
        self.dialect = dialect

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        return orjson.dumps(encode_dialect_request(request, upstream_model, self.dialect))

    def decode_response(self, body: bytes, request: ChatRequest) -> ChatResult:
        try:
            repaired = repair_completion(body)
        except orjson.JSONDecodeError:
            raise ValueError("not JSON") from None
        return super().decode_response(repaired, request)

    def stream_translator(self, request: ChatRequest) -> DialectChatStream:
        return DialectChatStream(request)

    def decode_error(self, body: bytes) -> VendorError | None:
        return self.dialect.errors(body)


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
