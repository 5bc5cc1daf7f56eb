"""OpenAI's Responses API as a capability: passed through, or translated to chat, target by target.

A target whose provider declares a Responses endpoint (OpenAI, Azure OpenAI) is sent the request as
the caller sent it and its answer is forwarded untouched (usage read from it); any other chat target
(the sandbox, Anthropic, every OpenAI-compatible vendor) is sent the request's chat translation through
the chat capability's own attempt (``CHAT.fetch`` / ``CHAT.open``), and its answer comes back as a
``response`` object or the Responses stream events. One route may mix both kinds, failing over between
them like any other. Metered in input, output and cached tokens; cached by default like chat.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar, cast

import orjson
from pydantic import ValidationError

from api_connector.capabilities.base import CapabilitySpec, StreamFilter, open_events, scrub_batch, send_json
from api_connector.capabilities.chat import CHAT
from api_connector.core.capabilities import Capability
from api_connector.core.responses import ResponsesRequest, ResponsesResult, new_id
from api_connector.core.usage import Usage
from api_connector.errors import UpstreamProtocolError, ValidationFailed
from api_connector.governance.cost import DEFAULT_COMPLETION_TOKENS
from api_connector.observability.payloads import PayloadBody, json_body
from api_connector.observability.redaction import Redactor
from api_connector.providers.spec import Endpoint
from api_connector.routing.catalog import Catalog, Route, Target
from api_connector.routing.exchange import Exchange
from api_connector.routing.strategies import Needs
from api_connector.routing.streams import AnswerStream, GeneratedStream
from api_connector.wire.base import ResponsesWire
from api_connector.wire.responses_chat import chat_request, response_from_completion
from api_connector.wire.responses_stream import ChatToResponsesEvents
from api_connector.wire.stream_assembly import assembled_responses


class ResponsesNeeds(Needs):
    """Tools, images and context of a Responses request, worked out only if a target's features ask."""

    __slots__ = ("_request",)

    def __init__(self, request: ResponsesRequest) -> None:
        super().__init__(Capability.RESPONSES, request.stream)
        self._request = request

    def tools(self) -> bool:
        return bool(self._request.tools)

    def vision(self) -> bool:
        items = self._request.input if isinstance(self._request.input, list) else []
        return any(
            part.type == "input_image" for item in items if isinstance(item.content, list) for part in item.content
        )

    def prompt_tokens(self) -> int:
        return self._request.prompt_tokens()

    def output_tokens(self) -> int:
        return self._request.max_output_tokens or 0


def _own_endpoint(target: Target) -> tuple[Endpoint, ResponsesWire] | None:
    """The target's Responses endpoint, when its provider speaks the Responses API itself."""
    endpoint = target.instance.spec.endpoints.get(Capability.RESPONSES)
    if endpoint is None or endpoint.wire is None:
        return None
    return endpoint, cast(ResponsesWire, endpoint.wire)  # a Responses endpoint declares a Responses wire


class ResponsesCapability(CapabilitySpec[ResponsesRequest, ResponsesResult]):
    capability: ClassVar[Capability] = Capability.RESPONSES
    kind: ClassVar[str] = "responses"
    cached_by_default: ClassVar[bool] = True

    def route(self, catalog: Catalog, project_id: str, request: ResponsesRequest) -> Route:
        return catalog.resolve(project_id, request.model)

    def streamed(self, request: ResponsesRequest) -> bool:
        return request.stream

    def needs(self, request: ResponsesRequest) -> Needs:
        return ResponsesNeeds(request)

    def estimate_tokens(self, request: ResponsesRequest) -> int:
        return request.prompt_tokens() + (request.max_output_tokens or DEFAULT_COMPLETION_TOKENS)

    def usage(self, result: ResponsesResult) -> Usage:
        return result.usage

    def cache_material(self, request: ResponsesRequest) -> Any:
        return request.wire_dict()

    def deterministic(self, request: ResponsesRequest) -> bool:
        return not request.stream and request.temperature == 0

    def dump_result(self, result: ResponsesResult) -> bytes:
        return result.body

    def load_result(self, raw: bytes, usage: Usage) -> ResponsesResult:
        return ResponsesResult(raw, usage)

    async def fetch(self, request: ResponsesRequest, exchange: Exchange) -> ResponsesResult:
        target = exchange.target
        own = _own_endpoint(target)
        if own is not None:
            endpoint, wire = own
            sent = wire.encode_request(request, target.model)
            return await send_json(exchange, endpoint, sent, wire.decode_response, "a response object")
        completion = await CHAT.fetch(chat_request(request, stream=False), exchange)
        try:
            body = response_from_completion(completion.body, completion.usage, request, new_id("resp"), _now())
        except ValueError:
            raise UpstreamProtocolError(
                "upstream answered with a body that is not a chat completion", provider=target.instance.name
            ) from None
        return ResponsesResult(orjson.dumps(body), completion.usage, body["status"])

    async def open(self, request: ResponsesRequest, exchange: Exchange) -> AnswerStream:
        target = exchange.target
        own = _own_endpoint(target)
        if own is None:
            chat = await CHAT.open(chat_request(request, stream=True), exchange)
            return TranslatedStream(chat, ChatToResponsesEvents(request, new_id("resp"), _now()))
        endpoint, wire = own
        body = wire.encode_request(request, target.model)
        return await open_events(exchange, endpoint, body, wire, wire.stream_translator(request))

    def scrub(self, result: ResponsesResult, redactor: Redactor) -> ResponsesResult:
        body = redactor.scrub_body(result.body)
        # A new result when something was masked: a coalesced answer is shared by several calls.
        return result if body is result.body else ResponsesResult(body, result.usage, result.status)

    def stream_filter(self, stream: AnswerStream, redactor: Redactor) -> StreamFilter | None:
        # Pieces are whole SSE frames (one event each), so a secret inside one is masked whole.
        return scrub_batch(redactor)

    def audit_stream(self, stream: AnswerStream) -> Callable[[list[bytes]], PayloadBody] | None:
        return lambda frames: json_body(assembled_responses(frames))  # the response, not its events

    def answer_json(self, result: ResponsesResult) -> tuple[int, Any]:
        return 200, orjson.loads(result.body)

    def dead_letter(self, request: ResponsesRequest) -> tuple[str, dict[str, Any]]:
        return request.model, {"body": request.wire_dict()}

    def from_dead_letter(
        self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]
    ) -> ResponsesRequest:
        body = dict(payload.get("body") or {})
        body["stream"] = False
        try:
            return ResponsesRequest.from_json_obj(body)
        except ValidationError as exc:
            raise ValidationFailed(f"the stored request is no longer valid: {exc}") from None


class TranslatedStream(GeneratedStream):
    """A chat stream given as Responses events: the chat chunks translated as they pass."""

    def __init__(self, chat: AnswerStream, events: ChatToResponsesEvents) -> None:
        super().__init__(chat.target)
        self._chat = chat
        self._events = events

    @property
    def usage(self) -> Usage:
        return self._chat.usage

    @property
    def finished(self) -> bool:
        return self._chat.finished

    async def _pieces(self) -> AsyncIterator[list[bytes]]:
        async for payloads in self._chat.batches():
            try:
                frames = self._events.feed(payloads)
            except ValueError:  # a chunk that is not a chat chunk: the stream is broken
                assert self.target is not None
                raise UpstreamProtocolError(
                    "upstream sent a stream chunk that is not a chat chunk", provider=self.target.instance.name
                ) from None
            if frames:
                yield frames
        yield self._events.finish(self._chat.usage)

    def close(self) -> None:
        self._chat.close()
        super().close()


def _now() -> int:
    return int(time.time())


RESPONSES = ResponsesCapability()
