"""Replicate predictions <-> the canonical chat shape: a job created, then waited for, polled or streamed.

A chat request becomes a prediction's ``input`` as Replicate's language models document it; the input
schema followed is that of Meta's Llama 3 / 3.1 instruct models (``meta/meta-llama-3-8b-instruct``,
``-70b-instruct``, ``meta-llama-3.1-405b-instruct``), which most chat models there share: ``prompt``,
``system_prompt`` (the system and developer messages), ``max_tokens``, ``temperature``, ``top_p``,
``stop_sequences`` (comma-separated), and when a caller sends them ``seed``, ``top_k``, ``min_tokens``,
``presence_penalty``, ``frequency_penalty``, ``prompt_template``. One user turn is the prompt as it is;
a longer conversation is written into the prompt as "User: ..." / "Assistant: ..." paragraphs (the
model's own template then wraps it). Tools and images have no place in that input and are refused.

The model is ``owner/name`` (``POST /models/{owner}/{name}/predictions``) or ``owner/name:version``
(``POST /predictions`` with the version). A whole answer is asked with ``Prefer: wait``; a prediction
still running then is polled at its ``urls.get`` until it succeeds, fails or is canceled. A stream is
read from the prediction's ``urls.stream`` (SSE ``output`` events of plain text, ``error``, ``done``),
and once done the prediction itself is read once more for its metrics. The output (a list of text
pieces) is the answer's text; ``metrics.input_token_count`` / ``output_token_count`` its usage; the
finish reason is "length" when the output reached the ``max_tokens`` asked for, else "stop".
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_connector.core.chat import ChatRequest
from api_connector.core.exchange import Inbound, Outbound
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.wire.base import ChatResult, Follow, StreamState, VendorError, VendorFailed
from api_connector.wire.carried import CarriedFields
from api_connector.wire.openai_shapes import ChunkWriter
from api_connector.wire.sse import SSEEvent

Block = dict[str, Any]
POLL_SECONDS = 0.5  # between polls of a prediction still running once Prefer: wait has run out
_VERSION_PATH = "/predictions"
_JSON = {"content-type": "application/json"}
_STREAM = {"accept": "text/event-stream", "cache-control": "no-store"}
_ENDED = ("failed", "canceled")  # the statuses of a prediction that ended without its output


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Urls(_Lenient):
    get: str | None = None
    stream: str | None = None


class _Metrics(_Lenient):
    input_token_count: int | None = None
    output_token_count: int | None = None


class Prediction(_Lenient):
    id: str
    status: str
    model: str | None = None
    version: str | None = None
    output: Any = None
    error: str | None = None
    urls: _Urls = Field(default_factory=_Urls)
    metrics: _Metrics | None = None
    created_at: str | None = None

    def usage(self) -> Usage:
        metrics = self.metrics or _Metrics()
        return Usage(metrics.input_token_count or 0, metrics.output_token_count or 0)

    def text(self) -> str:
        if isinstance(self.output, list):
            return "".join(piece for piece in self.output if isinstance(piece, str))
        return self.output if isinstance(self.output, str) else ""

    def created(self) -> int:
        try:
            return int(datetime.fromisoformat(self.created_at or "").timestamp())
        except ValueError:
            return int(time.time())

    def model_name(self) -> str:
        return self.model or self.version or ""

    def failure(self) -> VendorError:
        return VendorError(self.error or f"the prediction ended {self.status}", type=f"prediction_{self.status}")


def finish_reason(usage: Usage, request: ChatRequest) -> str:
    limit = request.output_token_limit()
    return "length" if limit is not None and usage.output_tokens >= limit else "stop"


# -- the request ---------------------------------------------------------------------------------------


class CallerExtras(_Lenient):
    seed: int | None = None
    top_k: int | None = None
    min_tokens: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    prompt_template: str | None = None
    input: dict[str, Any] | None = None


def _prompt(request: ChatRequest) -> tuple[str, str]:
    """(system prompt, prompt) of the conversation."""
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if isinstance(message.content, list) and any(part.type != "text" for part in message.content):
            raise ValidationFailed("Replicate language models take text only", param=f"{where}.content")
        if message.role in ("system", "developer"):
            system.append(message.text())
        elif message.role in ("user", "assistant") and not message.tool_calls:
            turns.append(("User" if message.role == "user" else "Assistant", message.text()))
        else:
            raise ValidationFailed("Replicate language models take a prompt, not tool calls or results", param=where)
    if len(turns) == 1 and turns[0][0] == "User":
        return "\n\n".join(system), turns[0][1]
    return "\n\n".join(system), "\n\n".join(f"{role}: {text}" for role, text in turns)


FIELDS = CarriedFields(
    vendor="Replicate",
    # The language models' common inputs, under the names they take; ``input``: a model's own inputs
    # (``extra_body``), merged over the translated ones.
    carried=frozenset({*CallerExtras.model_fields, "input"}),
    hints={"n": "a Replicate prediction gives one answer: n must be 1"},
)


def prediction_input(request: ChatRequest, fields: CarriedFields = FIELDS) -> Block:
    """A prediction's ``input`` for ``request``; a field ``fields`` does not let through is refused."""
    fields.check(request)
    if request.tools:
        raise ValidationFailed("Replicate language models take a prompt; tools cannot be sent", param="tools")
    system, prompt = _prompt(request)
    given: Block = {"prompt": prompt}
    if system:
        given["system_prompt"] = system
    limit = request.output_token_limit()
    if limit is not None:
        given["max_tokens"] = limit
    if request.temperature is not None:
        given["temperature"] = request.temperature
    if request.top_p is not None:
        given["top_p"] = request.top_p
    if request.stop:
        given["stop_sequences"] = request.stop if isinstance(request.stop, str) else ",".join(request.stop)
    extras = CallerExtras.model_validate(request.model_extra or {})
    given.update(extras.model_dump(exclude_none=True, exclude={"input"}))
    given.update(extras.input or {})
    return given


# -- the stream ----------------------------------------------------------------------------------------


class _Said(_Lenient):
    detail: str | None = None
    reason: str | None = None


def _said(raw: bytes) -> _Said:
    try:
        return _Said.model_validate_json(raw)
    except ValidationError:
        return _Said(detail=raw.decode("utf-8", "replace") or None)


class ReplicateStream:
    """A prediction's SSE stream as OpenAI chunks; the finish and usage chunks come from ``settle``."""

    __slots__ = ("_chunks", "_include_usage", "_poll", "_request", "_started", "state")

    def __init__(self, request: ChatRequest, prediction: Prediction | None = None) -> None:
        self.state = StreamState()
        self._request = request
        self._include_usage = request.wants_usage_in_stream
        if prediction is None:
            self._chunks = ChunkWriter("", "", int(time.time()))
        else:
            self._chunks = ChunkWriter(prediction.id, prediction.model_name(), prediction.created())
        self._poll = prediction.urls.get if prediction else None
        self._started = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        match event.event:
            case "output":
                delta: Block = {"content": event.data}
                if not self._started:
                    delta = {"role": "assistant", **delta}
                self._started = True
                return [self._chunks.delta(delta)]
            case "error":
                said = _said(event.raw)
                self.state.error = VendorError(said.detail or "the prediction failed", type="prediction_failed")
                return []
            case "done":
                reason = _said(event.raw).reason
                if reason in ("error", "canceled"):
                    self.state.error = self.state.error or VendorError(
                        f"the prediction ended: {reason}", type=f"prediction_{reason}"
                    )
                    return []
                self.state.done = True
                return []
            case _:  # comments, and events added later
                return []

    def finish(self) -> list[bytes]:
        return []

    def follow_up(self) -> Outbound | None:
        """The prediction, read once it is done: its metrics are the answer's usage."""
        if not self.state.done or self._poll is None:
            return None
        return Outbound("", method="GET", url=self._poll)

    def settle(self, answer: Inbound | None) -> list[bytes]:
        """The finish chunk, and the usage chunk when the prediction's final state could be read (without
        it the text is still whole; a usage of nothing would be a false one)."""
        known = False
        if answer is not None:
            with contextlib.suppress(ValidationError):
                self.state.usage = Prediction.model_validate_json(answer.body).usage()
                known = True
        self.state.finish_reason = finish_reason(self.state.usage, self._request)
        delta: Block = {} if self._started else {"role": "assistant", "content": ""}
        payloads = [self._chunks.delta(delta, self.state.finish_reason)]
        if self._include_usage and known:
            payloads.append(self._chunks.usage(self.state.usage))
        return payloads


# -- errors --------------------------------------------------------------------------------------------


class _InvalidField(_Lenient):
    field: str | None = None
    description: str | None = None


class _ProblemDetails(_Lenient):
    """RFC 7807, as Replicate answers its errors."""

    title: str | None = None
    detail: str | None = None
    status: int | None = None
    invalid_fields: list[_InvalidField] = []


def decode_replicate_error(body: bytes) -> VendorError | None:
    try:
        problem = _ProblemDetails.model_validate_json(body)
    except ValidationError:
        return None
    message = (problem.detail or problem.title or "").strip()
    if not message:
        return None
    param = problem.invalid_fields[0].field if problem.invalid_fields else None
    return VendorError(message, type=problem.title, param=param)


# -- the wire ------------------------------------------------------------------------------------------


class ReplicatePredictionsWire:
    """``drops``: request fields the provider's declaration leaves out rather than refusing."""

    name = "replicate_predictions"
    stepped = True  # the chat capability runs start / advance (wire.base.SteppedChatWire)

    def __init__(self, drops: frozenset[str] = frozenset()) -> None:
        self.fields = FIELDS.dropping(drops)

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        body: Block = {"input": prediction_input(request, self.fields)}
        _, colon, version = upstream_model.partition(":")
        if colon:
            body["version"] = version
        if request.stream:
            body["stream"] = True
        return orjson.dumps(body)

    def start(self, request: ChatRequest, upstream_model: str, path: str) -> Outbound:
        body = self.encode_request(request, upstream_model)
        if ":" in upstream_model:
            path = _VERSION_PATH  # a version is named in the body, not the path
        # A whole answer is waited for in the same request (up to 60 s); a stream starts at once.
        headers = _JSON if request.stream else {**_JSON, "prefer": "wait"}
        return Outbound(path, body, dict(headers))

    def advance(self, request: ChatRequest, answer: Inbound) -> Follow | ChatResult:
        prediction = Prediction.model_validate_json(answer.body)
        if prediction.status in _ENDED:
            raise VendorFailed(prediction.failure())
        if request.stream and prediction.urls.stream:
            stream = Outbound("", method="GET", headers=dict(_STREAM), url=prediction.urls.stream)
            return Follow(stream, translator=ReplicateStream(request, prediction))
        if prediction.status == "succeeded":
            return self._result(prediction, request)
        if prediction.urls.get is None:
            raise ValueError("a prediction still running, without a URL to poll")
        return Follow(Outbound("", method="GET", url=prediction.urls.get), wait=POLL_SECONDS)

    def decode_response(self, body: bytes, request: ChatRequest) -> ChatResult:
        prediction = Prediction.model_validate_json(body)
        if prediction.status in _ENDED:
            raise VendorFailed(prediction.failure())
        if prediction.status != "succeeded":
            raise ValueError("the prediction has not finished")
        return self._result(prediction, request)

    def stream_translator(self, request: ChatRequest) -> ReplicateStream:
        return ReplicateStream(request)

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_replicate_error(body)

    @staticmethod
    def _result(prediction: Prediction, request: ChatRequest) -> ChatResult:
        usage = prediction.usage()
        reason = finish_reason(usage, request)
        message = {"role": "assistant", "content": prediction.text(), "refusal": None}
        completion = {
            "id": prediction.id,
            "object": "chat.completion",
            "created": prediction.created(),
            "model": prediction.model_name(),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reason}],
            "usage": usage.as_openai(),
        }
        return ChatResult(orjson.dumps(completion), usage, reason)


REPLICATE_PREDICTIONS = ReplicatePredictionsWire()
