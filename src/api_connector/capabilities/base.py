"""What a capability is: a declaration the pipeline reads, never plumbing of its own.

A capability (chat, embeddings, rerank, the generic request API, ...) declares its typed request and
result, how a request finds its targets, what it needs of them, how it is metered, its cache key and
whether identical requests may share one upstream call, whether it is safe to send twice, how one
attempt is made with a target (``fetch`` for a whole answer, ``open`` for a stream), how its answers
are scrubbed of secrets, and how a dead letter keeps and replays it. Every layer of the pipeline asks
these questions; none of them branches on which capability it is.

A capability whose answer is one entry per input (embeddings) may also declare that the cache keeps
each entry on its own (``itemized``): a request whose inputs were mostly seen before then sends only
the others upstream, and the answer is assembled in order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import ValidationError

from api_connector.core.call import Call
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Inbound, Outbound
from api_connector.core.usage import Usage
from api_connector.errors import CapabilityUnsupported, UpstreamError, UpstreamProtocolError
from api_connector.observability.payloads import PayloadBody, json_body
from api_connector.observability.redaction import Redactor
from api_connector.providers.spec import Endpoint
from api_connector.routing.catalog import Catalog, Route, Target
from api_connector.routing.classify import classify_status
from api_connector.routing.exchange import Exchange
from api_connector.routing.strategies import Needs
from api_connector.routing.streams import AnswerStream, StreamFilter, first_payloads
from api_connector.wire.base import ChatStreamTranslator, HeadErrors, VendorError, Wire

Req = TypeVar("Req")
Res = TypeVar("Res")
T = TypeVar("T")
_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "application/json", "accept": "text/event-stream"}


class Itemized(ABC, Generic[Req, Res]):
    """One request's items for the per-item cache (``pipeline.cache``): what identifies each item's
    answer, and how to ask for some of them and put an answer back together."""

    # What decides each item's answer, in the request's order; each is hashed into its own key (with
    # the project), so it must hold everything that changes that answer and nothing that does not.
    materials: list[Any]

    @abstractmethod
    def narrow(self, positions: Sequence[int]) -> Req:
        """The request for the items at ``positions`` only, in that order."""

    @abstractmethod
    def split(self, result: Res) -> list[bytes]:
        """Each item of an answer (to this request or a narrowed one), in order, as the cache keeps it."""

    @abstractmethod
    def assemble(self, items: Sequence[bytes], fetched: Res | None) -> Res:
        """The answer to the whole request from its items in order, cached or fetched. ``fetched`` is the
        upstream's answer for the others (what the call used is its usage alone), None when every item
        came from the cache."""


class CapabilitySpec(ABC, Generic[Req, Res]):
    capability: ClassVar[Capability]
    # The dead-letter queue's name for entries of this capability (kept stable: stored with them).
    kind: ClassVar[str]
    # Sending a request again after it may have reached the provider changes nothing there beyond
    # cost (model calls): retries and failover are safe. False: only with the caller's Idempotency-Key.
    idempotent: ClassVar[bool] = True
    # Answers are cached for the operator's default TTL (``cache.default_ttl``) without being asked.
    cached_by_default: ClassVar[bool] = False

    # -- routing ------------------------------------------------------------------------------
    @abstractmethod
    def route(self, catalog: Catalog, project_id: str, request: Req) -> Route:
        """The targets this request may go to (a route, an instance's model, or the instance itself)."""

    def streamed(self, request: Req) -> bool:
        return False

    def needs(self, request: Req) -> Needs:
        return Needs(self.capability, self.streamed(request))

    def resendable(self, call: Call, request: Req) -> bool:
        return self.idempotent or call.idempotency_key is not None

    # -- limits and metering ------------------------------------------------------------------
    def estimate_tokens(self, request: Req) -> int:
        """Tokens expected before the call (reserved from token limits, settled with the real ones)."""
        return 0

    @abstractmethod
    def usage(self, result: Res) -> Usage: ...

    # -- cache and coalescing -----------------------------------------------------------------
    def cache_material(self, request: Req) -> Any:
        """What identifies the answer (hashed into the cache key); None: never cached."""
        return None

    def deterministic(self, request: Req) -> bool:
        """Identical requests get the same answer, so those in flight at once may share one call."""
        return False

    def itemized(self, request: Req) -> Itemized[Req, Res] | None:
        """The request's items, when the cache keeps each on its own; None (the default): cached whole."""
        return None

    @abstractmethod
    def dump_result(self, result: Res) -> bytes:
        """A whole answer as the cache keeps it (its usage is kept beside it)."""

    @abstractmethod
    def load_result(self, raw: bytes, usage: Usage) -> Res:
        """The inverse of ``dump_result``."""

    # -- one attempt with one target ----------------------------------------------------------
    @abstractmethod
    async def fetch(self, request: Req, exchange: Exchange) -> Res:
        """A whole answer from ``exchange.target``, or the failure (classified) that stopped it."""

    async def open(self, request: Req, exchange: Exchange) -> AnswerStream:
        """A streamed answer from ``exchange.target``; capabilities that stream override this."""
        raise CapabilityUnsupported(f"{self.capability.value} answers are not streamed", param="stream")

    # -- secrets ------------------------------------------------------------------------------
    def scrub(self, result: Res, redactor: Redactor) -> Res:
        """The answer with every known secret masked (answers that are not text stay untouched)."""
        return result

    def stream_filter(self, stream: AnswerStream, redactor: Redactor) -> StreamFilter | None:
        """How a streamed answer's pieces are scrubbed; None: left untouched (audio, binary)."""
        return None

    @abstractmethod
    def answer_json(self, result: Res) -> tuple[int, Any]:
        """(status, the answer as JSON data): what a dead-letter replay shows its caller."""

    # -- request audit (rendered in the batch writer, never on the request path) ---------------
    def audit_request(self, request: Req) -> PayloadBody:
        """The request as the request audit keeps it (before redaction, masking and the size cap)."""
        payload = self.dead_letter(request)[1]
        return json_body(payload["body"] if payload.keys() == {"body"} else payload)

    def audit_answer(self, result: Res) -> PayloadBody:
        """A whole answer as the request audit keeps it."""
        return json_body(self.answer_json(result)[1])

    def audit_stream(self, stream: AnswerStream) -> Callable[[list[bytes]], PayloadBody] | None:
        """How a streamed answer's pieces (as the caller got them) add up to what the audit keeps; None
        (the default): only its type and size are kept (audio, binary)."""
        return None

    # -- dead letters -------------------------------------------------------------------------
    @abstractmethod
    def dead_letter(self, request: Req) -> tuple[str, dict[str, Any]]:
        """(what it was addressed to, the request as the caller sent it) for a dead letter."""

    @abstractmethod
    def from_dead_letter(self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]) -> Req:
        """The request a dead letter keeps, to replay it (whole: nobody listens to a stream)."""


def endpoint_of(target: Target, capability: Capability) -> Endpoint:
    """The target's declared endpoint for ``capability``; its absence passes the target over."""
    endpoint = target.instance.spec.endpoints.get(capability)
    if endpoint is None or endpoint.wire is None:
        raise CapabilityUnsupported(f"provider {target.instance.name!r} does not offer {capability.value}")
    return endpoint


async def open_events(
    exchange: Exchange, endpoint: Endpoint, body: bytes, wire: Wire, translator: ChatStreamTranslator
) -> AnswerStream:
    """One streamed JSON request to the target's ``endpoint`` (its stream path where it has one), read
    until its first payloads: a failure until then, or any answer outside 2xx, is raised classified
    (the next target may serve). A translator of a vendor's own framing (``FramedStreamTranslator``:
    AWS's event stream) asks for its media type instead of SSE."""
    target = exchange.target
    path = endpoint.path_for(target.model, stream=True)
    media_type: str | None = getattr(translator, "media_type", None)
    headers = _SSE if media_type is None else {"content-type": "application/json", "accept": media_type}
    upstream = await exchange.open(Outbound(path, body, headers, query=endpoint.query or None))
    try:
        if not 200 <= upstream.status < 300:
            said = await upstream.read_all()
            raise wire_failure(Inbound(upstream.status, upstream.headers, said), wire, target)
        return await first_payloads(target, upstream, translator)
    except BaseException:
        upstream.close()
        raise


def failure(
    answer: Inbound, vendor: Callable[[bytes], VendorError | None] | None, target: Target
) -> UpstreamError:
    """An answer that is not the capability's: classified with what the vendor said in its body."""
    said = vendor(answer.body) if vendor is not None and answer.body else None
    return classify_status(answer.status, said, answer.headers, provider=target.instance.name)


async def send_json(
    exchange: Exchange, endpoint: Endpoint, body: bytes, decode: Callable[[bytes], T], answer_is: str
) -> T:
    """One JSON request to the target's ``endpoint`` (``{model}`` filled in) and its answer decoded: a
    status outside 2xx is the classified failure, with what the vendor said; a body ``decode`` refuses
    (ValueError, ValidationError) is a protocol error naming what the answer should have been."""
    target = exchange.target
    path = endpoint.path_for(target.model)
    answer = await exchange.send(Outbound(path, body, _JSON, query=endpoint.query or None))
    if not 200 <= answer.status < 300:
        wire = endpoint.wire
        raise wire_failure(answer, wire, target) if wire is not None else failure(answer, None, target)
    try:
        return decode(answer.body)
    except ValueError as exc:  # pydantic's ValidationError included
        raise UpstreamProtocolError(
            f"upstream answered with a body that is not {answer_is}: {_first_problem(exc)}",
            provider=target.instance.name,
        ) from None


def _first_problem(exc: ValueError) -> str:
    """What was wrong with a vendor's answer, briefly (the first problem pydantic found)."""
    if isinstance(exc, ValidationError):
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(exc)


def wire_failure(answer: Inbound, wire: Wire, target: Target) -> UpstreamError:
    """``failure`` with what ``wire`` reads of its vendor's error: from the body, and from the headers too
    for vendors that put part of it there (``HeadErrors``: AWS's error type)."""
    if isinstance(wire, HeadErrors):
        said = wire.decode_error_answer(answer.headers, answer.body)
        return classify_status(answer.status, said, answer.headers, provider=target.instance.name)
    return failure(answer, wire.decode_error, target)


def scrub_batch(redactor: Redactor) -> StreamFilter:
    """A filter masking secrets in whole payloads (each a complete JSON event): one search per read."""

    def apply(payloads: list[bytes]) -> list[bytes]:
        if len(payloads) == 1:
            return [redactor.scrub_body(payloads[0])]
        joined = b"\n".join(payloads)
        if redactor.scrub_body(joined) is joined:
            return payloads
        return [redactor.scrub_body(payload) for payload in payloads]

    return StreamFilter(apply)
