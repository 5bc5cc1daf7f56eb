"""Gemini ``generateContent`` (Google AI Studio and Vertex AI) <-> the canonical OpenAI chat shape.

Requests are translated by ``wire.gemini_request``; the provider declares ``:generateContent`` as the
path and ``:streamGenerateContent?alt=sse`` as the stream path (the model is part of the path, not of
the body). Answers come back as an OpenAI ``chat.completion``; streams, whose events are each a slice
of the answer (text deltas, whole function calls, cumulative usage, the finish reason last), as
``chat.completion.chunk`` payloads. Candidates (``n``) are choices by their index. Thought parts are
not part of the OpenAI shape and are left out; their tokens count as completion tokens, as OpenAI
counts reasoning. Google's function calls carry no id unless Vertex gives one: the answer's id and the
call's position make one, and a Gemini 3 thought signature rides along in it (see
``gemini_request``). A prompt Google blocked (``promptFeedback.blockReason``, no candidates) is a
``content_filtered`` failure; a candidate stopped by a filter ends with ``content_filter``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from pydantic import ValidationError

from api_connector.core.chat import ChatRequest
from api_connector.errors import ContentFiltered
from api_connector.wire.base import ChatResult, StreamState, VendorError
from api_connector.wire.gemini_request import FIELDS, THOUGHT_MARK, encode_generate_request
from api_connector.wire.gemini_types import (
    Candidate,
    GenerateResponse,
    Part,
    UsageMetadata,
    decode_google_error,
    finish_reason,
    vendor_error,
)
from api_connector.wire.openai_shapes import chunk_payload, delta_choice
from api_connector.wire.sse import SSEEvent

Block = dict[str, Any]


def blocked(response: GenerateResponse) -> VendorError | None:
    """Why Google answered without any candidate: the prompt itself was blocked."""
    feedback = response.prompt_feedback
    if response.candidates or feedback is None or feedback.block_reason is None:
        return None
    message = feedback.block_reason_message or f"the prompt was blocked by Google ({feedback.block_reason})"
    return VendorError(message, type="content_filter", code=feedback.block_reason)


def openai_usage(meta: UsageMetadata | None) -> Block:
    if meta is None:
        return UsageMetadata().to_usage().as_openai()
    body = meta.to_usage().as_openai()
    if meta.thoughts:
        body["completion_tokens_details"] = {"reasoning_tokens": meta.thoughts}
    return body


class _Calls:
    """Tool call ids of one answer: Vertex's own, else the answer's id and the call's position."""

    __slots__ = ("_answer", "count")

    def __init__(self, answer_id: str) -> None:
        self._answer = answer_id
        self.count = 0

    def tool_call(self, part: Part) -> Block | None:
        call = part.function_call
        if call is None or not call.name:
            return None  # an empty or continuation part (arguments streamed by path) has no call of its own
        call_id = call.id or f"call_{self._answer}_{self.count}"
        self.count += 1
        if part.thought_signature:
            call_id = f"{call_id}{THOUGHT_MARK}{part.thought_signature}"
        arguments = orjson.dumps(call.args or {}).decode()
        return {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def _visible(part: Part) -> bool:
    return not part.thought


def _answer_id(response: GenerateResponse) -> str:
    return response.response_id or f"chatcmpl-{uuid.uuid4().hex}"


def _choice(candidate: Candidate, calls: _Calls) -> Block:
    parts = [part for part in (candidate.content.parts if candidate.content else []) if _visible(part)]
    text = "".join(part.text or "" for part in parts if part.function_call is None)
    made = [call for call in map(calls.tool_call, parts) if call is not None]
    reply: Block = {"role": "assistant", "content": text or (None if made else ""), "refusal": None}
    if made:
        reply["tool_calls"] = made
    reason = finish_reason(candidate.finish_reason, bool(made)) or "stop"
    return {"index": candidate.index, "message": reply, "logprobs": None, "finish_reason": reason}


def completion_from_response(response: GenerateResponse, model: str, created: int) -> Block:
    """An OpenAI ``chat.completion`` object for a whole Gemini answer."""
    answer_id = _answer_id(response)
    calls = _Calls(answer_id)
    choices = [_choice(candidate, calls) for candidate in sorted(response.candidates, key=lambda c: c.index)]
    return {
        "id": answer_id,
        "object": "chat.completion",
        "created": created,
        "model": response.model_version or model,
        "choices": choices,
        "usage": openai_usage(response.usage_metadata),
    }


class GeminiChatStream:
    """Turns ``streamGenerateContent`` events into OpenAI chunks, candidate by candidate."""

    __slots__ = (
        "_calls",
        "_candidates",
        "_created",
        "_finished",
        "_id",
        "_include_usage",
        "_meta",
        "_model",
        "_opened",
        "_started",
        "_tool_index",
        "state",
    )

    def __init__(self, request: ChatRequest) -> None:
        self.state = StreamState()
        self._include_usage = request.wants_usage_in_stream
        self._candidates = request.n or 1
        self._created = int(time.time())
        self._model = request.model
        self._id = ""
        self._calls = _Calls("")
        self._meta: UsageMetadata | None = None
        self._started = False
        self._opened: set[int] = set()
        self._finished: set[int] = set()
        self._tool_index: dict[int, int] = {}  # candidate -> tool calls sent so far (OpenAI's index)

    def feed(self, event: SSEEvent) -> list[bytes]:
        if not event.raw:
            return []
        try:
            response = GenerateResponse.model_validate_json(event.raw)
        except ValidationError:
            self.state.error = VendorError(message="upstream sent a stream event that is not valid JSON")
            return []
        if response.error is not None:
            self.state.error = vendor_error(response.error)
            return []
        if not self._started:
            self._start(response)
        if response.usage_metadata is not None:
            self._meta = response.usage_metadata  # cumulative: the latest is the whole
            self.state.usage = response.usage_metadata.to_usage()
        refusal = blocked(response)
        if refusal is not None:
            self.state.error = refusal
            return []
        payloads: list[bytes] = []
        for candidate in response.candidates:
            payloads += self._candidate(candidate)
        if len(self._finished) >= self._candidates:
            self.state.done = True
        return payloads

    def finish(self) -> list[bytes]:
        if not self._finished:
            return []  # ended without a finish reason: the stream broke off
        self.state.done = True
        if not self._include_usage:
            return []
        self._include_usage = False  # once
        return [self._envelope([], usage=openai_usage(self._meta))]

    def _start(self, response: GenerateResponse) -> None:
        self._started = True
        self._id = _answer_id(response)
        self._calls = _Calls(self._id)
        self._model = response.model_version or self._model

    def _candidate(self, candidate: Candidate) -> list[bytes]:
        index = candidate.index
        if index in self._finished:
            return []
        chunks: list[bytes] = []
        if index not in self._opened:
            self._opened.add(index)
            chunks.append(self._chunk(index, {"role": "assistant", "content": ""}))
        for part in candidate.content.parts if candidate.content else []:
            if not _visible(part):
                continue
            call = self._calls.tool_call(part)
            if call is not None:
                position = self._tool_index.get(index, 0)
                self._tool_index[index] = position + 1
                chunks.append(self._chunk(index, {"tool_calls": [{"index": position, **call}]}))
            elif part.text:
                chunks.append(self._chunk(index, {"content": part.text}))
        reason = finish_reason(candidate.finish_reason, index in self._tool_index)
        if reason is not None:
            self._finished.add(index)
            if index == 0:
                self.state.finish_reason = reason
            chunks.append(self._chunk(index, {}, reason))
        return chunks

    def _chunk(self, index: int, delta: Block, reason: str | None = None) -> bytes:
        return self._envelope([delta_choice(index, delta, reason)])

    def _envelope(self, choices: list[Block], **extra: Any) -> bytes:
        return chunk_payload(self._id, self._created, self._model, choices, **extra)


class GeminiChatWire:
    """``drops``: request fields the provider's declaration leaves out rather than refusing."""

    name = "gemini_chat"

    def __init__(self, drops: frozenset[str] = frozenset()) -> None:
        self.fields = FIELDS.dropping(drops)

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        # The model is in the path; a stream is asked for by the path too.
        return orjson.dumps(encode_generate_request(request, self.fields))

    def decode_response(self, body: bytes, request: ChatRequest) -> ChatResult:
        response = GenerateResponse.model_validate_json(body)
        refusal = blocked(response)
        if refusal is not None:
            raise ContentFiltered(
                refusal.message,
                details={"upstream_type": refusal.type, "upstream_code": refusal.code},
                upstream_status=200,
            )
        if not response.candidates:
            raise ValueError("a Gemini answer without candidates")
        completion = completion_from_response(response, request.model, int(time.time()))
        usage = (response.usage_metadata or UsageMetadata()).to_usage()
        finish = completion["choices"][0]["finish_reason"]
        return ChatResult(body=orjson.dumps(completion), usage=usage, finish_reason=finish)

    def stream_translator(self, request: ChatRequest) -> GeminiChatStream:
        return GeminiChatStream(request)

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_google_error(body)


GEMINI_CHAT = GeminiChatWire()
