"""The contracts wire modules fulfil: every wire (``Wire``), chat wires, embeddings wires.

A chat wire turns the canonical (OpenAI-shaped) chat request into the bytes a vendor expects, and the
vendor's answer back into OpenAI-format bytes plus the usage the gateway accounts for. Streams are
translated event by event. Rerank and embeddings wires do the same for their capabilities.
Wires never see credentials or do I/O.

A chat wire may declare itself a ``SteppedChatWire``: an answer that
takes several requests (a job: create, then poll or stream), each one decided by the wire from the
answer before, each one sent by the chat capability through the attempt's exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from api_connector.core.chat import ChatRequest
from api_connector.core.embeddings import EmbeddingsRequest, EmbeddingsResult
from api_connector.core.exchange import Inbound, Outbound
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
    # More of what the vendor said, passed on to the caller in the error's details (e.g. which of
    # Azure's content filters refused the prompt).
    details: dict[str, Any] | None = None
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

    @property
    def name(self) -> str: ...  # read-only: a wire may be a frozen instance of a shared shape

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
class EmbeddingsWire(Wire, Protocol):
    """One batch of inputs (the capability splits larger requests) to a vendor and back."""

    def encode_request(self, request: EmbeddingsRequest, upstream_model: str) -> bytes:
        """The body for the vendor; raises ``CapabilityUnsupported`` for inputs the vendor cannot take
        (token arrays for a text-only API), so routing passes the target over."""
        ...

    def decode_response(self, body: bytes, request: EmbeddingsRequest) -> EmbeddingsResult:
        """One vector per input of ``request``, in its order; ValueError (or a pydantic
        ValidationError) when the body is not such an answer."""
        ...


class VendorFailed(Exception):
    """Raised by a wire when an answer the vendor gave as a success reports a failure (a failed job, a
    finish reason that is an error): the capability classifies ``error`` like an error event."""

    def __init__(self, error: VendorError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class Follow:
    """The next request of an answer that takes several: sent after ``wait`` seconds (a poll), or, with a
    ``translator``, opened as an SSE stream whose events it turns into the client's chunks. With
    ``longest``, a poll repeated backs off from ``wait`` up to ``longest`` seconds (``capabilities.steps``)."""

    outbound: Outbound
    wait: float = 0.0
    translator: ChatStreamTranslator | None = None
    longest: float | None = None


class SteppedChatWire(ChatWire, Protocol):
    """A chat wire whose answer takes several upstream requests in one attempt (Replicate predictions).

    Still a pure codec: it says what to send first and, from each 2xx answer, what to send next or the
    finished answer. Its stream translators may also declare ``follow_up() -> Outbound | None`` and
    ``settle(answer: Inbound | None) -> list[bytes]``: one last request once the stream has ended (the
    job's final state, with the usage it reports) and the chunks its answer completes the stream with.
    """

    stepped: bool  # True: the chat capability runs ``start`` and ``advance``

    def start(self, request: ChatRequest, upstream_model: str, path: str) -> Outbound:
        """The first request; ``path`` is the endpoint's, the model filled in."""
        ...

    def advance(self, request: ChatRequest, answer: Inbound) -> Follow | ChatResult:
        """What the 2xx ``answer`` leads to; raises VendorFailed when it reports a failure, ValueError
        (or ValidationError) when it is not the vendor's shape."""
        ...


class TokenCountWire(Wire, Protocol):

    def encode_request(self, request: ChatRequest, upstream_model: str) -> bytes:
        """The vendor's token-count request for the chat request it would be sent."""
        ...

    def decode_response(self, body: bytes) -> int:
        """The input tokens the vendor counted (ValueError or ValidationError when it is no count)."""
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
