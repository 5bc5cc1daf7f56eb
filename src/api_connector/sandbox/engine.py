"""The sandbox upstream: answers in OpenAI format, deterministically, with faults on request.

Content is derived from the input, so tests can assert it (``/rerank`` scores by word overlap, see
``sandbox.rerank``): the reply to a user message is
``"sandbox echo: <the message's text>"``; with tools offered and ``tool_choice`` "required" or naming a
function (or the user's text naming a tool), it calls that tool with arguments filled from its schema;
after a tool result it answers ``"tool result: <the result>"``; asked for a ``json_schema``
``response_format``, it answers a JSON object filled from the schema. Usage is counted as a real
tokenizer would roughly count (about four characters a token, plus per-message overhead).
``/embeddings`` answers each input with a unit vector derived from its hash (``dimensions`` long, 16 by
default), floats or base64 as asked. ``/audio/speech`` answers tones, one per character, as WAV or raw
PCM (``sandbox.speech``); ``/audio/transcriptions`` and ``/audio/translations`` a transcript that
tells the audio's length (``sandbox.transcription``).

Fault controls, from request headers (callers set them; the gateway forwards ``x-sandbox-*``) or from
the provider instance's static ``headers``:
  x-sandbox-latency-ms: 250            wait before answering (and between stream chunks: /10)
  x-sandbox-status: 503                answer with this status and an OpenAI-format error body
  x-sandbox-retry-after: 2             sent as Retry-After with an error status
  x-sandbox-fault: timeout | disconnect | truncate | malformed
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import struct
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_connector.core.chat import ChatMessage, ChatRequest, ToolDefinition
from api_connector.core.embeddings import EmbeddingsRequest, Item
from api_connector.sandbox.rerank import rerank
from api_connector.sandbox.speech import pieces, speech
from api_connector.sandbox.transcription import transcription
from api_connector.transport.local import LocalDisconnect, LocalResponse

MODELS = ("sandbox-chat", "sandbox-fast", "sandbox-embed", "sandbox-rerank", "sandbox-tts", "sandbox-stt")
EMBEDDING_DIMENSIONS = 16
_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream", "cache-control": "no-cache"}
_STATUS_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def count_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


def _error(status: int, message: str, retry_after: str | None = None) -> LocalResponse:
    kind, code = _STATUS_TYPES.get(status, ("server_error", "server_error"))
    headers = dict(_JSON)
    if retry_after:
        headers["retry-after"] = retry_after
    body = orjson.dumps({"error": {"message": message, "type": kind, "code": code, "param": None}})
    return LocalResponse(status, headers, body)


class SandboxEngine:
    """The in-process sandbox; ``handle`` is what the transport calls."""

    async def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> LocalResponse:
        controls = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-sandbox-")}
        latency = float(controls.get("x-sandbox-latency-ms", "0") or 0) / 1000
        fault = controls.get("x-sandbox-fault", "")
        if latency:
            await asyncio.sleep(latency)
        if fault == "timeout":
            await asyncio.sleep(3600)
        if fault == "disconnect":
            raise LocalDisconnect("sandbox dropped the connection")
        status = int(controls.get("x-sandbox-status", "0") or 0)
        if status >= 400:
            return _error(status, f"sandbox answered {status} as asked", controls.get("x-sandbox-retry-after"))
        route = path.rstrip("/")
        if route.endswith("/models"):
            return LocalResponse(200, dict(_JSON), self._models())
        if route.endswith("/chat/completions"):
            return self._chat(body, fault, latency / 10)
        if route.endswith("/rerank"):
            status, answer = rerank(body)
            return LocalResponse(status, dict(_JSON), answer)
        if route.endswith("/embeddings"):
            return self._embeddings(body, fault)
        if route.endswith("/audio/speech"):
            status, answer_headers, answer = speech(body)
            if status != 200:
                return LocalResponse(status, answer_headers, answer)
            return LocalResponse(200, answer_headers, lines=pieces(answer, fault, latency / 10))
        if route.endswith(("/audio/transcriptions", "/audio/translations")):
            translate = route.endswith("/translations")
            content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
            status, answer = transcription(content_type, body, translate)
            return LocalResponse(status, dict(_JSON), answer)
        if route.endswith("/echo") or "/echo/" in route:
            return self._echo(method, path, headers, body)
        return _error(404, f"the sandbox has no endpoint {path}")

    def _models(self) -> bytes:
        data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "sandbox"} for m in MODELS]
        return orjson.dumps({"object": "list", "data": data})

    def _echo(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> LocalResponse:
        # Header names only: values could hold the injected credential, which must never come back.
        parsed: Any = None
        if body:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                parsed = body.decode("utf-8", "replace")
        names = sorted(k.lower() for k in headers)
        answer = {
            "method": method,
            "path": path,
            "body": parsed,
            "header_names": names,
            "authorized": "authorization" in names or "x-api-key" in names,
        }
        return LocalResponse(200, dict(_JSON), orjson.dumps(answer))

    def _chat(self, body: bytes, fault: str, gap: float) -> LocalResponse:
        try:
            request = ChatRequest.model_validate_json(body)
        except ValidationError as exc:
            return _error(400, f"invalid chat request: {exc.errors()[0]['msg']}")
        try:
            reply = SandboxReply.for_request(request)
        except ValidationError:  # a tool_choice object naming no function, as OpenAI answers it
            return _error(400, "invalid chat request: tool_choice must name a function")
        if request.stream:
            return LocalResponse(200, dict(_SSE), lines=reply.stream(request, fault, gap))
        payload = orjson.dumps(reply.completion(request.model))
        if fault == "truncate":
            payload = payload[: len(payload) // 2]
        if fault == "malformed":
            payload = b"<html>sandbox says: not json</html>"
        return LocalResponse(200, dict(_JSON), payload)

    def _embeddings(self, body: bytes, fault: str) -> LocalResponse:
        try:
            request = EmbeddingsRequest.model_validate_json(body)
        except ValidationError as exc:
            return _error(400, f"invalid embeddings request: {exc.errors()[0]['msg']}")
        items = request.items()
        size = request.dimensions or EMBEDDING_DIMENSIONS
        vectors = [sandbox_vector(item, size) for item in items]
        data = [
            {"object": "embedding", "index": i, "embedding": base64.b64encode(struct.pack(f"<{size}f", *v)).decode()}
            if request.encoding_format == "base64"
            else {"object": "embedding", "index": i, "embedding": v}
            for i, v in enumerate(vectors)
        ]
        tokens = sum(count_tokens(item) if isinstance(item, str) else len(item) for item in items)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        payload = orjson.dumps({"object": "list", "data": data, "model": request.model, "usage": usage})
        if fault == "malformed":
            payload = b"<html>sandbox says: not json</html>"
        return LocalResponse(200, dict(_JSON), payload)


def sandbox_vector(item: Item, size: int) -> list[float]:
    """A unit vector of ``size`` values drawn from the input's hash: the same input, the same vector."""
    seed = item.encode() if isinstance(item, str) else orjson.dumps(item)
    raw = hashlib.shake_256(seed).digest(2 * size)
    values = [value / 32767.5 - 1.0 for value in struct.unpack(f"<{size}H", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


class SandboxReply:
    """One deterministic answer: text or a tool call, with its usage."""

    def __init__(self, request_id: str, text: str | None, tool: ToolDefinition | None, prompt: int) -> None:
        self.id = request_id
        self.text = text
        self.tool = tool
        self.arguments = orjson.dumps(_arguments_for(tool)).decode() if tool else ""
        self.prompt_tokens = prompt
        limit_source = text if text is not None else self.arguments
        self.completion_tokens = count_tokens(limit_source)
        self.created = int(time.time())

    @classmethod
    def for_request(cls, request: ChatRequest) -> SandboxReply:
        digest = hashlib.sha256(request.model_dump_json(include={"messages", "tools"}).encode()).hexdigest()
        prompt = sum(count_tokens(m.text()) + 4 for m in request.messages) + 3
        last = request.messages[-1]
        tool = _chosen_tool(request, last)
        if tool is not None:
            return cls(f"chatcmpl-sbx{digest[:24]}", None, tool, prompt)
        text = f"tool result: {last.text()}" if last.role == "tool" else f"sandbox echo: {last.text()}"
        schema = _StructuredAsk.model_validate(request.model_extra or {}).schema_asked()
        if schema is not None:
            text = orjson.dumps(_sample(schema)).decode()
        limit = request.output_token_limit()
        if limit is not None and count_tokens(text) > limit:
            text = text[: limit * 4]
        return cls(f"chatcmpl-sbx{digest[:24]}", text, None, prompt)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool else "stop"

    def usage(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "total_tokens": total}

    def _tool_calls(self) -> list[dict[str, Any]]:
        assert self.tool is not None
        call_id = "call_" + self.id[-24:]
        return [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": self.tool.function.name, "arguments": self.arguments},
            }
        ]

    def completion(self, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text, "refusal": None}
        if self.tool:
            message["tool_calls"] = self._tool_calls()
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}],
            "usage": self.usage(),
            "system_fingerprint": "fp_sandbox",
        }

    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
            "system_fingerprint": "fp_sandbox",
            "choices": [choice],
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def _deltas(self) -> list[dict[str, Any]]:
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        if self.tool:
            call = self._tool_calls()[0]
            first = {
                "index": 0,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            deltas.append({"tool_calls": [first]})
            for i in range(0, len(self.arguments), 8):
                deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": self.arguments[i : i + 8]}}]})
        else:
            words = (self.text or "").split(" ")
            deltas.extend({"content": (" " if i else "") + w} for i, w in enumerate(words))
        return deltas

    async def stream(self, request: ChatRequest, fault: str, gap: float) -> AsyncIterator[bytes]:
        model = request.model
        frames = [self._chunk(model, delta) for delta in self._deltas()]
        frames.append(self._chunk(model, {}, self.finish_reason))
        if request.wants_usage_in_stream:
            usage = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": model,
                "choices": [],
                "usage": self.usage(),
            }
            frames.append(b"data: " + orjson.dumps(usage) + b"\n\n")
        frames.append(b"data: [DONE]\n\n")
        cut = len(frames) // 2 if fault == "truncate" else None
        for index, data in enumerate(frames):
            if cut is not None and index == cut:
                raise LocalDisconnect("sandbox dropped the stream half way")
            if gap:
                await asyncio.sleep(gap)
            for line in data.split(b"\n")[:-1]:
                yield line + b"\n"


def _chosen_tool(request: ChatRequest, last: ChatMessage) -> ToolDefinition | None:
    if not request.tools or request.tool_choice == "none" or last.role != "user":
        return None
    wanted = request.named_tool()
    if wanted is not None:
        return next((t for t in request.tools if t.function.name == wanted), request.tools[0])
    if request.tool_choice == "required":
        return request.tools[0]
    text = last.text()
    return next((t for t in request.tools if t.function.name in text), None)


def _arguments_for(tool: ToolDefinition | None) -> dict[str, Any]:
    """Arguments for every required parameter, typed from the schema, so clients can parse them."""
    if tool is None or not tool.function.parameters:
        return {}
    schema = tool.function.parameters
    # Any JSON may come as a schema: what is not a schema's shape is read as "no constraint".
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    required = schema.get("required", list(props))
    required = [name for name in required if isinstance(name, str)] if isinstance(required, list) else []
    samples = {"string": "sandbox", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}

    def sample(prop: Any) -> Any:
        return samples.get(str(prop.get("type", "string")), "sandbox") if isinstance(prop, dict) else "sandbox"

    return {name: sample(props.get(name)) for name in required}


class _JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")


class _ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    json_schema: _JsonSchemaFormat | None = None


class _StructuredAsk(BaseModel):
    """The part of a chat request that asks for structured output."""

    model_config = ConfigDict(extra="ignore")
    response_format: _ResponseFormat | None = None

    def schema_asked(self) -> dict[str, Any] | None:
        fmt = self.response_format
        if fmt is None or fmt.type != "json_schema" or fmt.json_schema is None:
            return None
        return fmt.json_schema.schema_


def _sample(schema: Any) -> Any:
    """A value that fits ``schema``: every property of an object, the first of an enum or of anyOf."""
    if not isinstance(schema, dict):
        return "sandbox"
    if schema.get("enum"):
        return schema["enum"][0]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return _sample(options[0])
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _sample(value) for name, value in properties.items()}
    if kind == "array":
        return [_sample(schema.get("items"))] if schema.get("items") else []
    samples = {"string": "sandbox", "integer": 1, "number": 1.5, "boolean": True, "null": None}
    return samples.get(str(kind), "sandbox")
