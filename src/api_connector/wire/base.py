"""The contract every wire module fulfils.

A chat wire turns the canonical (OpenAI-shaped) chat request into the bytes a vendor expects, and the
vendor's answer back into OpenAI-format bytes plus the usage the gateway accounts for. Streams are
translated event by event. A rerank wire does the same for the gateway's rerank request and answer.
Wires never see credentials or do I/O.

Two optional declarations of a chat wire: ``needs_upstream_model = True`` for a vendor whose answers
do not name the model (Cohere): its ``decode_response`` and ``stream_translator`` are then also given
the model that was asked for, to write OpenAI's ``model`` field. ``SteppedChatWire``: an answer that
takes several requests (a job: create, then poll or stream), each one decided by the wire from the
answer before, each one sent by the chat capability through the attempt's exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from api_connector.core.chat import ChatRequest
from api_connector.core.exchange import Inbound, Outbound
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


class VendorFailed(Exception):
    """Raised by a wire when an answer the vendor gave as a success reports a failure (a failed job, a
    finish reason that is an error): the capability classifies ``error`` like an error event."""

    def __init__(self, error: VendorError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class Follow:
    """The next request of an answer that takes several: sent after ``wait`` seconds (a poll), or, with a
    ``translator``, opened as an SSE stream whose events it turns into the client's chunks."""

    outbound: Outbound
    wait: float = 0.0
    translator: ChatStreamTranslator | None = None


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
