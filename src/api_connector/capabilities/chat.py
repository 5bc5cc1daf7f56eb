"""Chat completions: the OpenAI Chat Completions shape in, any provider's chat wire out.

Answers are OpenAI ``chat.completion`` bytes (``wire.base.ChatResult``) and, streamed, OpenAI
``chat.completion.chunk`` payloads; metered in input, output and cached tokens. A wire whose answer
takes several requests (``wire.base.SteppedChatWire``) is run by ``capabilities.chat_steps``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

import orjson

from api_connector.capabilities import chat_steps
from api_connector.capabilities.base import (
    CapabilitySpec,
    StreamFilter,
    endpoint_of,
    open_events,
    scrub_batch,
    send_json,
)
from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.governance.cost import DEFAULT_COMPLETION_TOKENS
from api_connector.observability.payloads import PayloadBody, json_body
from api_connector.observability.redaction import Redactor
from api_connector.providers.spec import Endpoint
from api_connector.routing.catalog import Catalog, Route, Target
from api_connector.routing.classify import classify_vendor_error
from api_connector.routing.exchange import Exchange
from api_connector.routing.strategies import Needs
from api_connector.routing.streams import AnswerStream
from api_connector.wire.base import ChatResult, ChatWire, SteppedChatWire, VendorFailed
from api_connector.wire.stream_assembly import assembled_chat

_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


class ChatNeeds(Needs):
    """Tools, images and context of a chat request, worked out only if a target's features ask."""

    __slots__ = ("_request",)

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(Capability.CHAT, request.stream)
        self._request = request

    def tools(self) -> bool:
        return bool(self._request.tools)

    def vision(self) -> bool:
        return any(
            part.type in _IMAGE_PARTS
            for message in self._request.messages
            if isinstance(message.content, list)
            for part in message.content
        )

    def prompt_tokens(self) -> int:
        return self._request.prompt_tokens()

    def output_tokens(self) -> int:
        return self._request.output_token_limit() or 0


def _wire(target: Target) -> tuple[Endpoint, ChatWire]:
    endpoint = endpoint_of(target, Capability.CHAT)
    return endpoint, cast(ChatWire, endpoint.wire)  # a chat endpoint declares a chat wire


def _decoded(wire: ChatWire, body: bytes, request: ChatRequest, target: Target) -> ChatResult:
    """The vendor's answer as a chat completion, or the failure it reports (a 2xx answer saying it
    failed), classified like an error event."""
    try:
        return wire.decode_response(body, request)
    except VendorFailed as failed:
        raise classify_vendor_error(failed.error, provider=target.instance.name) from None


class ChatCapability(CapabilitySpec[ChatRequest, ChatResult]):
    capability: ClassVar[Capability] = Capability.CHAT
    kind: ClassVar[str] = "chat"
    cached_by_default: ClassVar[bool] = True

    def route(self, catalog: Catalog, project_id: str, request: ChatRequest) -> Route:
        return catalog.resolve(project_id, request.model)

    def streamed(self, request: ChatRequest) -> bool:
        return request.stream

    def needs(self, request: ChatRequest) -> Needs:
        return ChatNeeds(request)

    def estimate_tokens(self, request: ChatRequest) -> int:
        # The prompt as routing counted it, and the answer's cap (or a typical answer's length).
        return request.prompt_tokens() + (request.output_token_limit() or DEFAULT_COMPLETION_TOKENS)

    def usage(self, result: ChatResult) -> Usage:
        return result.usage

    def cache_material(self, request: ChatRequest) -> Any:
        return request.wire_dict()

    def deterministic(self, request: ChatRequest) -> bool:
        return not request.stream and request.temperature == 0

    def dump_result(self, result: ChatResult) -> bytes:
        return result.body

    def load_result(self, raw: bytes, usage: Usage) -> ChatResult:
        return ChatResult(raw, usage)

    async def fetch(self, request: ChatRequest, exchange: Exchange) -> ChatResult:
        target = exchange.target
        endpoint, wire = _wire(target)
        if getattr(wire, "stepped", False):  # (not isinstance: a Protocol check costs on every call)
            return await chat_steps.fetch(request, exchange, endpoint, cast(SteppedChatWire, wire))
        body = wire.encode_request(request, target.model)
        return await send_json(exchange, endpoint, body, lambda raw: _decoded(wire, raw, request, target),
                               "a chat completion")

    async def open(self, request: ChatRequest, exchange: Exchange) -> AnswerStream:
        target = exchange.target
        endpoint, wire = _wire(target)
        if getattr(wire, "stepped", False):
            return await chat_steps.open_stream(request, exchange, endpoint, cast(SteppedChatWire, wire))
        body = wire.encode_request(request, target.model)
        return await open_events(exchange, endpoint, body, wire, wire.stream_translator(request))

    def scrub(self, result: ChatResult, redactor: Redactor) -> ChatResult:
        body = redactor.scrub_body(result.body)
        # A new result when something was masked: a coalesced answer is shared by several calls.
        return result if body is result.body else ChatResult(body, result.usage, result.finish_reason)

    def stream_filter(self, stream: AnswerStream, redactor: Redactor) -> StreamFilter | None:
        # Payloads are whole events (the reader joins an event cut across reads), so a secret inside
        # one is masked whole without holding anything back.
        return scrub_batch(redactor)

    def audit_stream(self, stream: AnswerStream) -> Callable[[list[bytes]], PayloadBody] | None:
        return lambda payloads: json_body(assembled_chat(payloads))  # the text, not the chunks

    def answer_json(self, result: ChatResult) -> tuple[int, Any]:
        return 200, orjson.loads(result.body)

    def dead_letter(self, request: ChatRequest) -> tuple[str, dict[str, Any]]:
        return request.model, {"body": request.wire_dict()}

    def from_dead_letter(self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]) -> ChatRequest:
        body = dict(payload.get("body") or {})
        body["stream"] = False
        body.pop("stream_options", None)
        try:
            return ChatRequest.from_json_obj(body)
        except ValueError as exc:
            raise ValidationFailed(f"the stored request is no longer valid: {exc}") from None


CHAT = ChatCapability()
