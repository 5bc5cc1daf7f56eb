"""The contract every wire module fulfils.

A chat wire turns the canonical (OpenAI-shaped) chat request into the bytes a vendor expects, and the
vendor's answer back into OpenAI-format bytes plus the usage the gateway accounts for. Streams are
translated event by event. A rerank wire does the same for the gateway's rerank request and answer.
Wires never see credentials or do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from api_connector.core.chat import ChatRequest
from api_connector.core.rerank import RerankRequest, RerankResult
from api_connector.core.responses import ResponsesRequest, ResponsesResult
from api_connector.core.usage import Usage
from api_connector.wire.sse import SSEEvent


@dataclass(slots=True)
class ChatResult:
    """An OpenAI ``chat.completion`` object, already serialised, and its usage."""

    body: bytes
    usage: Usage
    finish_reason: str | None = None


@dataclass(slots=True)
class VendorError:
    """What a vendor said about a failure, as typed fields for the classifier."""

    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None  # seconds, when the body says when to come back


@dataclass(slots=True)
class StreamState:
    """What a stream translator has learnt so far."""

    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    done: bool = False
    error: VendorError | None = None


class ChatStreamTranslator(Protocol):
    state: StreamState

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Translate one vendor SSE event into zero or more OpenAI ``chat.completion.chunk`` JSON payloads.

        Sets ``state.done`` on the vendor's terminal event and ``state.error`` on an in-stream error.
        """
        ...

    def finish(self) -> list[bytes]:
        """Payloads still owed once the vendor stream has ended (e.g. the usage chunk)."""
        ...


class Wire(Protocol):
    """What every wire, of any capability, offers: its name and its vendor's error shape."""

    name: str

    def decode_error(self, body: bytes) -> VendorError | None:
        """The vendor's error body as typed fields, or None if it is not the vendor's error shape."""
        ...


class ChatWire(Wire, Protocol):

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        """The request body for the vendor; ``request.stream`` says whether to ask for a stream."""
        ...

    def decode_response(self, body: bytes, request: ChatRequest) -> ChatResult:
        """The vendor's JSON answer as an OpenAI chat completion."""
        ...

    def stream_translator(self, request: ChatRequest) -> ChatStreamTranslator:
        """A fresh translator for one streamed answer."""
        ...

    def decode_error(self, body: bytes) -> VendorError | None:
        """The vendor's error body as typed fields, or None if it is not the vendor's error shape."""
        ...


class RerankWire(Wire, Protocol):

    def encode_request(self, request: RerankRequest, upstream_model: str) -> bytes:
        """The request body for the vendor."""
        ...

    def decode_response(self, body: bytes, request: RerankRequest, upstream_model: str) -> RerankResult:
        """The vendor's JSON answer as the gateway's (ValueError or ValidationError when it is not one)."""
        ...


class ResponsesWire(Wire, Protocol):
    """A provider's own Responses API: the request passed through, its answers and events read for
    usage only (``core.responses``). Providers without one get Responses requests translated to chat."""

    def encode_request(self, request: ResponsesRequest, upstream_model: str) -> bytes:
        """The request body for the vendor; ``request.stream`` says whether to ask for a stream."""
        ...

    def decode_response(self, body: bytes) -> ResponsesResult:
        """The vendor's ``response`` object (ValueError or ValidationError when it is not one)."""
        ...

    def stream_translator(self, request: ResponsesRequest) -> ChatStreamTranslator:
        """A fresh reader of one streamed answer: gives each event as an SSE frame."""
        ...
