"""The contract every wire module fulfils.

A chat wire turns the canonical (OpenAI-shaped) chat request into the bytes a vendor expects, and the
vendor's answer back into OpenAI-format bytes plus the usage the gateway accounts for. Streams are
translated event by event. A rerank wire does the same for the gateway's rerank request and answer.
Wires never see credentials or do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from api_connector.core.chat import ChatRequest
from api_connector.core.rerank import RerankRequest, RerankResult
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
    # The HTTP status the vendor documents for an error it sends inside a stream (which has none).
    status: int | None = None


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


class StreamFramingError(ValueError):
    """Streamed bytes that break the vendor's framing (a bad checksum, an impossible length)."""


class FramedStreamTranslator(ChatStreamTranslator, Protocol):
    """A translator of a stream that is not SSE (AWS's binary event stream): it takes the body's bytes as
    they arrive and cuts them into its framing's messages itself. ``feed`` still takes one decoded
    event (its name in ``event.event``, its payload in ``event.raw``).

    ``routing.streams`` recognises it by ``feed_bytes``; the chat capability asks for ``media_type``.
    """

    media_type: str

    def feed_bytes(self, chunk: bytes) -> list[bytes]:
        """The OpenAI payloads one upstream read completes; raises StreamFramingError on broken framing."""
        ...


class Wire(Protocol):
    """What every wire, of any capability, offers: its name and its vendor's error shape."""

    name: str

    def decode_error(self, body: bytes) -> VendorError | None:
        """The vendor's error body as typed fields, or None if it is not the vendor's error shape."""
        ...


@runtime_checkable
class HeadErrors(Protocol):
    """A wire whose vendor says part of an error in the answer's headers (AWS: its type)."""

    def decode_error_answer(self, headers: Mapping[str, str], body: bytes) -> VendorError | None:
        """What the vendor said, from the headers and the body together."""
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
