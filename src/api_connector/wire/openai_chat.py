"""OpenAI Chat Completions: the canonical shape, so encoding is nearly a pass-through.

Used by OpenAI itself and every OpenAI-compatible vendor (Groq, Azure, DeepSeek, Together, vLLM, ...).
Responses are forwarded byte for byte; only the fields the gateway accounts for are typed and read.
Where a vendor's requests depart from OpenAI's (a field under another name, a field it refuses, no
``stream_options``), its declaration says so in a ``ChatDialect`` that its wire instance applies.
"""

from __future__ import annotations

from itertools import compress, count, repeat
from operator import not_
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.wire.base import ChatResult, StreamState, VendorError
from api_connector.wire.openai_dialect import ChatDialect
from api_connector.wire.sse import SSEEvent


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def usage_from_json(value: object, reasoning_apart: bool = False) -> Usage:
    """An OpenAI ``usage`` object read leniently: absent or malformed counts are zero.

    ``reasoning_apart``: the vendor leaves reasoning tokens out of ``completion_tokens`` (xAI; its
    ``total_tokens`` has them): they are output all the same, billed as such.
    """
    if not isinstance(value, dict):
        return Usage()
    details = value.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    output = _count(value.get("completion_tokens"))
    if reasoning_apart:
        done = value.get("completion_tokens_details")
        output += _count(done.get("reasoning_tokens")) if isinstance(done, dict) else 0
    return Usage(_count(value.get("prompt_tokens")), output, cached)


class _FilterVerdict(_Lenient):
    filtered: bool = False
    severity: str | None = None
    detected: bool | None = None


class _InnerError(_Lenient):
    """Azure's addition to OpenAI's error: why its content filters refused (``ResponsibleAIPolicyViolation``)."""

    code: str | None = None
    content_filter_result: dict[str, _FilterVerdict] | None = None


class _ErrorBody(_Lenient):
    message: str = ""
    type: str | None = None
    code: str | int | None = None
    param: str | None = None
    innererror: _InnerError | None = None

    def details(self) -> dict[str, Any] | None:
        inner = self.innererror
        if inner is None:
            return None
        details: dict[str, Any] = {"upstream_inner_code": inner.code}
        if inner.content_filter_result:
            details["content_filter_results"] = {
                category: verdict.model_dump(exclude_none=True)
                for category, verdict in inner.content_filter_result.items()
            }
        return details


class _ErrorEnvelope(_Lenient):
    error: _ErrorBody | str


def _stream_error(value: object) -> VendorError:
    try:
        err = _ErrorBody.model_validate(value)
    except ValidationError:
        return VendorError(message=str(value)[:500])
    return VendorError(err.message, err.type, str(err.code) if err.code else None)


def decode_openai_error(body: bytes) -> VendorError | None:
    try:
        envelope = _ErrorEnvelope.model_validate_json(body)
    except ValidationError:
        return None
    err = envelope.error
    if isinstance(err, str):
        return VendorError(message=err)
    code = str(err.code) if err.code is not None else None
    return VendorError(message=err.message, type=err.type, code=code, param=err.param, details=err.details())


# How a chunk with nothing to account for ends (one choice, no finish reason, usage null or absent),
# compactly serialised as OpenAI and most compatible vendors do.
_PLAIN_ENDINGS = (b'"finish_reason":null}],"usage":null}', b'"finish_reason":null}]}')


# OpenAI itself pads each chunk with a random ``obfuscation`` string after the usage field.
_OBFUSCATED_PREFIX = b'"finish_reason":null}],"usage":null,"obfuscation":"'


def _plain_delta(data: bytes) -> bool:
    """A chunk with nothing the gateway accounts for: forward it unread.

    Only the ending is compared, so this costs next to nothing; chunks written any other way (spacing,
    several choices, extra trailing fields) take the slow path and are parsed.
    """
    return data.endswith(_PLAIN_ENDINGS)


def _plain_obfuscated(data: bytes) -> bool:
    """A plain chunk as OpenAI sends it, padding last: forwarded unread like the others.

    The prefix holds unescaped quotes around colons, so it cannot sit inside a JSON string: found
    last and followed only by a plain alphanumeric value and the closing brace, it is the chunk's
    own ending. Any other padding takes the slow path.
    """
    # A slice compared, not ``endswith``: bytes.endswith parses its arguments the slow way, which cost
    # more than the comparison on every chunk that reaches here.
    if data[-2:] != b'"}':
        return False
    at = data.rfind(_OBFUSCATED_PREFIX)
    return at >= 0 and data[at + len(_OBFUSCATED_PREFIX) : -2].isalnum()


# How the chunk that ends an answer's choice ends when it carries nothing else the gateway accounts for
# (OpenAI and most compatible vendors): ``..."finish_reason":"stop"}],"usage":null}``.
_FINISH_KEY = b'"finish_reason":"'
_FINISH_END = b'"}],"usage":null}'
_KEY_LENGTH, _END_LENGTH = len(_FINISH_KEY), len(_FINISH_END)
# The reasons OpenAI documents; a chunk with any other is parsed, and its reason kept as it came.
_FINISH_REASONS = {r.encode(): r for r in ("stop", "length", "tool_calls", "content_filter", "function_call")}


def _plain_finish(data: bytes) -> str | None:
    """The finish reason of a chunk that ends a choice and carries nothing else to account for, read
    from its ending; None for a chunk written any other way (it is then parsed).

    Like the prefix above, the key holds unescaped quotes around its colon, so it cannot sit inside a
    JSON string; followed only by a known reason and the fixed ending, it is the last choice's own
    finish reason. Parsing the chunk to learn that word was most of what a stream's end cost.
    """
    if data[-_END_LENGTH:] != _FINISH_END:
        return None
    at = data.rfind(_FINISH_KEY, 0, -_END_LENGTH)
    if at < 0:
        return None
    return _FINISH_REASONS.get(data[at + _KEY_LENGTH : -_END_LENGTH])


class OpenAIChatStream:
    """Forwards OpenAI chunks untouched, noting usage and finish reason on the way."""

    __slots__ = ("_held", "_hide_usage_chunk", "_reasoning_apart", "state")

    def __init__(self, request: ChatRequest, reasoning_apart: bool = False) -> None:
        self.state = StreamState()
        self._reasoning_apart = reasoning_apart
        # The gateway always asks upstream for usage; callers who did not ask do not get the extra chunk.
        self._hide_usage_chunk = not request.wants_usage_in_stream
        # Chunks that came before the answer had an id (Azure's prompt_filter_results), waiting for it.
        self._held: list[dict[str, Any]] = []

    def feed(self, event: SSEEvent) -> list[bytes]:
        payload = event.raw
        if _plain_delta(payload) and not self._held:
            return [payload]
        return self._read(payload)

    def feed_payloads(self, payloads: list[bytes]) -> list[bytes]:
        """``feed`` over several data-only events at once, stopping after an in-stream error.

        Plain deltas are most of a stream: they are picked out in one pass and forwarded as runs,
        so only the few chunks that carry something cost a Python call each. The chunk after held
        ones is read too, whatever it is: it gives them their id.
        """
        out: list[bytes] = []
        start = 0
        while self._held and start < len(payloads) and self.state.error is None:
            out += self._read(payloads[start])
            start += 1
        if self.state.error is not None:
            return out
        # The positions of the chunks that are not plain, found without a bytecode per chunk (map and
        # compress run in C): a Python comprehension over every chunk was this method's largest cost.
        plain = map(bytes.endswith, payloads, repeat(_PLAIN_ENDINGS))
        for index in list(compress(count(), map(not_, plain))):
            if index < start:
                continue
            out += payloads[start:index]
            out += self._read(payloads[index])
            start = index + 1
            while self._held and start < len(payloads) and self.state.error is None:
                out += self._read(payloads[start])
                start += 1
            if self.state.error is not None:
                return out
        out += payloads[start:]
        return out

    def _read(self, payload: bytes) -> list[bytes]:
        """A chunk that may carry something: the end marker, usage, a finish reason or an error."""
        if payload == b"[DONE]":
            self.state.done = True
            return self._release(None)
        if not self._held:
            finish = _plain_finish(payload)
            if finish is not None:
                self.state.finish_reason = finish
                return [payload]
            if _plain_obfuscated(payload):
                return [payload]
        if not payload:
            return []
        # The few chunks that carry something (finish reason, usage, an error) are read by hand from
        # orjson's parse: cheaper than validating each with pydantic.
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict):
            self.state.error = VendorError(message="upstream sent a stream event that is not JSON")
            return []
        if chunk.get("error") is not None:
            self.state.error = _stream_error(chunk["error"])
            return []
        choices = chunk.get("choices")
        choices = choices if isinstance(choices, list) else []
        if not chunk.get("id") and not choices and chunk.get("usage") is None:
            # Azure annotates the prompt in a chunk of its own before the answer has an id; sent on
            # with the next chunk's id, so that every chunk of one answer carries the same id.
            self._held.append(chunk)
            return []
        return [*self._release(chunk), *self._account(chunk, choices, payload)]

    def _account(self, chunk: dict[str, Any], choices: list[Any], payload: bytes) -> list[bytes]:
        for choice in choices:
            finish = choice.get("finish_reason") if isinstance(choice, dict) else None
            if finish and isinstance(finish, str):
                self.state.finish_reason = finish
        if chunk.get("usage") is not None:
            self.state.usage = usage_from_json(chunk["usage"], self._reasoning_apart)
            if self._hide_usage_chunk:
                if not choices:
                    return []
                # Some vendors (OpenRouter, Mistral) put usage on a chunk that still has a choice.
                del chunk["usage"]
                return [orjson.dumps(chunk)]
        return [payload]

    def _release(self, following: dict[str, Any] | None) -> list[bytes]:
        """The held chunks, named after the chunk that followed them (as they came when none did)."""
        if not self._held:
            return []
        held, self._held = self._held, []
        names = {key: following[key] for key in _ANSWER_NAMES if key in following} if following else {}
        return [orjson.dumps({**chunk, **names}) for chunk in held]

    def finish(self) -> list[bytes]:
        return self._release(None)


# What names an answer's chunks, copied from the answer's first chunk onto one that came before it.
_ANSWER_NAMES = ("id", "object", "created", "model")


class OpenAIChatWire:
    def __init__(self, dialect: ChatDialect | None = None, name: str = "openai_chat") -> None:
        self.dialect = dialect  # None: OpenAI's own requests
        self.name = name  # a vendor's dialect with conformance cases of its own names itself

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        body = request.wire_dict()
        body["model"] = upstream_model
        dialect = self.dialect
        if dialect is not None:
            dialect.apply(body)
        if request.stream:
            if dialect is None or dialect.stream_usage:
                options = dict(body.get("stream_options") or {})
                options["include_usage"] = True
                body["stream_options"] = options
            else:
                body.pop("stream_options", None)
        return orjson.dumps(body)

    def decode_response(self, body: bytes, request: ChatRequest) -> ChatResult:
        # The body is forwarded untouched; only the accounted parts are read, by hand: validating the
        # whole completion (message text included) with pydantic costs several times more.
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ValueError("not JSON") from None
        if not isinstance(parsed, dict):
            raise ValueError("not a JSON object")
        choices = parsed.get("choices")
        first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        finish = first.get("finish_reason")
        usage = usage_from_json(parsed.get("usage"), self.dialect is not None and self.dialect.reasoning_apart)
        return ChatResult(body=body, usage=usage, finish_reason=finish if isinstance(finish, str) else None)

    def stream_translator(self, request: ChatRequest) -> OpenAIChatStream:
        return OpenAIChatStream(request, self.dialect is not None and self.dialect.reasoning_apart)

    def decode_error(self, body: bytes) -> VendorError | None:
        errors = self.dialect.errors if self.dialect is not None else None
        return (errors or decode_openai_error)(body)


OPENAI_CHAT = OpenAIChatWire()
