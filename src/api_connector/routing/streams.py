"""Streamed answers: read until the caller can be given something, then hand the rest over.

Until the first piece reaches the client a failure is like any other and the router may fail over;
for chat ``first_payloads`` reads that far, for audio ``first_bytes`` (the body's first bytes), for
the generic API's raw body the head is enough. After it, the stream is the client's: a break is
raised from ``AnswerStream.batches`` for the renderer to end cleanly. Chat streams are read as SSE
unless the wire's translator reads a framing of its own (AWS's binary event stream): ``stream_reader``
picks the reader once per stream, so the SSE path is unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol

from api_connector.core.call import NO_HEADERS
from api_connector.core.usage import Usage
from api_connector.errors import UpstreamError, UpstreamProtocolError
from api_connector.routing.catalog import Target
from api_connector.routing.classify import classify_vendor_error
from api_connector.transport.http import UpstreamStream
from api_connector.wire.base import ChatStreamTranslator, StreamFramingError
from api_connector.wire.sse import SSEEvent, SSEParser, data_payloads


class StreamReader:
    """Turns one stream's upstream reads into OpenAI payloads, and notes the failure that stops them.

    Upstream reads are taken as they come, not as lines: nearly every read is whole events that are
    each one ``data:`` line, and those are split in one go (``data_payloads``), where cutting each
    read into lines and feeding them one by one was a large share of what a streamed answer cost
    beyond a JSON one. Reads of any other shape go line by line through ``SSEParser``.
    """

    __slots__ = ("_carry", "_parser", "_provider", "translator")

    def __init__(self, translator: ChatStreamTranslator, provider: str) -> None:
        self.translator = translator
        self._provider = provider
        self._parser = SSEParser()
        self._carry = b""  # the start of a line whose end has not arrived yet

    def read(self, chunk: bytes) -> tuple[list[bytes], UpstreamError | None]:
        """The payloads one upstream read completes, and the in-stream failure that stopped them."""
        data = self._carry + chunk if self._carry else chunk
        if self._parser.idle:
            events = self._whole_events(data)
            if events is not None:
                return self._events(events)
        lines = data.splitlines(keepends=True)
        self._carry = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        return self._lines(lines)

    def end(self) -> list[bytes]:
        """Upstream has finished: the payloads still owed (an event without its blank line counts)."""
        if self._carry:
            # Only ever the start of a line: it adds to the event that ``close`` ends.
            self._parser.feed_line(self._carry)
            self._carry = b""
        tail = self._parser.close()
        payloads = self.translator.feed(tail) if tail is not None else []
        payloads += self.translator.finish()
        return payloads

    def _whole_events(self, data: bytes) -> list[bytes] | None:
        """The payloads of ``data`` if it is whole data-only events, then at most the start of a line.

        That start is carried to the next read, as a line would be: so whatever the path, the same
        events reach the translator at the same reads.
        """
        end = data.rfind(b"\n\n") + 2
        if end < 2:
            return None
        tail = data[end:]
        # find, not ``in``: ``in`` on bytes first tries its operand as an integer and pays for the error.
        if tail and (tail.find(b"\n") >= 0 or tail.find(b"\r") >= 0):
            return None
        events = data_payloads(data[:end] if tail else data)
        if events is not None:
            self._carry = tail
        return events

    def _events(self, data: list[bytes]) -> tuple[list[bytes], UpstreamError | None]:
        """Data-only events through the translator, stopping after an in-stream error.

        A translator may take them all in one call (``feed_payloads``): a wire that forwards most
        events as they are then skips the per-event work. Others get them one by one.
        """
        translator = self.translator
        feed_all: Callable[[list[bytes]], list[bytes]] | None = getattr(translator, "feed_payloads", None)
        if feed_all is not None:
            return feed_all(data), self._failure()
        payloads: list[bytes] = []
        for payload in data:
            payloads += translator.feed(SSEEvent(payload))
            if translator.state.error is not None:
                break
        return payloads, self._failure()

    def _lines(self, lines: list[bytes]) -> tuple[list[bytes], UpstreamError | None]:
        payloads: list[bytes] = []
        for line in lines:
            event = self._parser.feed_line(line)
            if event is not None:
                payloads += self.translator.feed(event)
                if self.translator.state.error is not None:
                    break
        return payloads, self._failure()

    def _failure(self) -> UpstreamError | None:
        error = self.translator.state.error
        return None if error is None else classify_vendor_error(error, provider=self._provider)


class PayloadReader(Protocol):
    """Turns one stream's upstream reads into OpenAI payloads: ``StreamReader`` for SSE, ``FramedReader``
    for a vendor's own framing."""

    translator: ChatStreamTranslator

    def read(self, chunk: bytes) -> tuple[list[bytes], UpstreamError | None]: ...

    def end(self) -> list[bytes]: ...


class FramedReader:
    """A stream in a framing of the vendor's own (``wire.base.FramedStreamTranslator``): the translator
    cuts the bytes into messages itself; bytes that break the framing are a protocol error."""

    __slots__ = ("_feed", "_provider", "translator")

    def __init__(self, translator: ChatStreamTranslator, feed: Callable[[bytes], list[bytes]], provider: str) -> None:
        self.translator = translator
        self._feed = feed
        self._provider = provider

    def read(self, chunk: bytes) -> tuple[list[bytes], UpstreamError | None]:
        try:
            payloads = self._feed(chunk)
        except StreamFramingError as exc:
            return [], UpstreamProtocolError(f"upstream stream is malformed: {exc}", provider=self._provider)
        error = self.translator.state.error
        return payloads, None if error is None else classify_vendor_error(error, provider=self._provider)

    def end(self) -> list[bytes]:
        try:
            return self.translator.finish()
        except StreamFramingError as exc:
            raise UpstreamProtocolError(f"upstream stream is malformed: {exc}", provider=self._provider) from None


def stream_reader(translator: ChatStreamTranslator, provider: str) -> PayloadReader:
    """The reader for the translator's framing: SSE unless it takes bytes itself (``feed_bytes``)."""
    feed: Callable[[bytes], list[bytes]] | None = getattr(translator, "feed_bytes", None)
    return StreamReader(translator, provider) if feed is None else FramedReader(translator, feed, provider)


Filter = Callable[[list[bytes]], list[bytes]]


class AnswerStream(ABC):
    """A streamed answer whose head arrived (and for chat its first payloads): failover is over.

    ``batches()`` gives the answer in the capability's pieces (chat chunk payloads, raw body reads),
    grouped by upstream read. Layers of the pipeline may add a filter (the secret scrubber) and ask for
    a copy of what passes (the cache). Once iterated, ``complete`` says whether it ended cleanly and
    ``error`` what broke it; ``usage`` is what it used (final once it ended).
    """

    status = 200
    headers: Mapping[str, str] = NO_HEADERS

    def __init__(self, target: Target | None) -> None:
        self.target = target
        self.complete = False
        self.error: UpstreamError | None = None
        self.captured: list[bytes] | None = None  # set to [] to keep a copy of every piece
        # Set by the router: ends this call's in-flight count when the stream is over.
        self.on_close: Callable[[], None] | None = None
        self._filters: list[tuple[Filter, Callable[[], list[bytes]] | None]] = []

    @property
    def usage(self) -> Usage:
        return Usage()

    @property
    def finished(self) -> bool:
        """Whether the upstream has said it is done (what is left may be held and sent at once)."""
        return False

    def add_filter(self, apply: Filter, flush: Callable[[], list[bytes]] | None = None) -> None:
        """Pass every batch through ``apply``; ``flush`` gives what it held back once the stream ends."""
        self._filters.append((apply, flush))

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """The pieces to the end; raises UpstreamError on a break (also kept in ``error``)."""
        filters = self._filters
        captured = self.captured
        try:
            async for batch in self._pieces():
                for apply, _ in filters:
                    batch = apply(batch)
                if batch:
                    if captured is not None:
                        captured.extend(batch)
                    yield batch
            for index, (_, flush) in enumerate(filters):
                tail = flush() if flush is not None else []
                for apply, _ in filters[index + 1 :]:
                    tail = apply(tail) if tail else tail
                if tail:
                    if captured is not None:
                        captured.extend(tail)
                    yield tail
            self.complete = True
        except UpstreamError as error:
            self.error = error
            raise
        finally:
            self.close()

    @abstractmethod
    def _pieces(self) -> AsyncIterator[list[bytes]]:
        """Where this kind of stream's pieces come from."""

    def close(self) -> None:
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()


class ChatStream(AnswerStream):
    """A streamed chat answer: OpenAI ``chat.completion.chunk`` payloads, the first already read."""

    def __init__(
        self,
        target: Target,
        upstream: UpstreamStream,
        reader: PayloadReader,
        first: list[bytes],
        rest: AsyncIterator[bytes],
        pending: UpstreamError | None = None,
    ) -> None:
        super().__init__(target)
        self.translator = reader.translator
        self.first = first
        self._pending = pending  # a failure that came in the same read as the first payloads
        self._upstream = upstream
        self._reader = reader
        self._rest = rest

    @property
    def usage(self) -> Usage:
        return self.translator.state.usage

    @property
    def finished(self) -> bool:
        return self.translator.state.done

    async def _pieces(self) -> AsyncIterator[list[bytes]]:
        if self.first:
            yield self.first
        if self._pending is not None:
            raise self._pending
        async for chunk in self._rest:
            payloads, failure = self._reader.read(chunk)
            if payloads:
                yield payloads
            if failure is not None:
                raise failure
        last = self._reader.end()
        if last:
            yield last
        if not self.translator.state.done:
            assert self.target is not None
            raise UpstreamProtocolError("upstream stream ended early", provider=self.target.instance.name)

    def close(self) -> None:
        self._upstream.close()
        super().close()


class RawStream(AnswerStream):
    """An upstream body passed on as it arrives, one piece per network read (the generic stream API,
    audio). ``first``: the piece already read (``first_bytes``), the rest coming from ``rest``;
    ``usage``: what the answer uses, when the request says it (characters to speak)."""

    def __init__(
        self,
        target: Target,
        upstream: UpstreamStream,
        first: bytes = b"",
        rest: AsyncIterator[bytes] | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(target)
        self.status = upstream.status
        self.headers = upstream.headers
        self._upstream = upstream
        self._first = first
        self._rest = rest
        self._usage = usage

    @property
    def usage(self) -> Usage:
        return self._usage if self._usage is not None else Usage()

    async def _pieces(self) -> AsyncIterator[list[bytes]]:
        if self._first:
            yield [self._first]
        rest = self._rest if self._rest is not None else self._upstream.chunks()
        async for chunk in rest:
            yield [chunk]

    def close(self) -> None:
        self._upstream.close()
        super().close()


class ReplayStream(AnswerStream):
    """A stream of pieces already in hand: those kept of an earlier one (the cache), or a vendor's whole
    answer handed on as one piece (audio that came base64 in JSON)."""

    def __init__(self, target: Target | None, pieces: list[bytes], usage: Usage) -> None:
        super().__init__(target)
        self._kept = pieces
        self._usage = usage

    @property
    def usage(self) -> Usage:
        return self._usage

    async def _pieces(self) -> AsyncIterator[list[bytes]]:
        if self._kept:
            yield self._kept


async def first_bytes(target: Target, upstream: UpstreamStream, usage: Usage | None = None) -> RawStream:
    """Read until the body's first bytes arrived: a failure (or a body that ends empty) until then can
    still fail over; after it, the body is the client's."""
    chunks = upstream.chunks()
    async for chunk in chunks:
        if chunk:
            return RawStream(target, upstream, chunk, chunks, usage)
    raise UpstreamProtocolError("upstream answered with an empty body", provider=target.instance.name)


async def first_payloads(target: Target, upstream: UpstreamStream, translator: ChatStreamTranslator) -> ChatStream:
    """Read until the first payload for the client exists: failures until then can still fail over."""
    reader = stream_reader(translator, target.instance.name)
    chunks = upstream.chunks()
    first: list[bytes] = []
    failure: UpstreamError | None = None
    async for chunk in chunks:
        payloads, failure = reader.read(chunk)
        first.extend(payloads)
        if failure is not None and not first:
            raise failure  # nothing reached the client yet: the next target may serve
        if first or translator.state.done:
            break
    if not first and not translator.state.done:
        raise UpstreamProtocolError("upstream stream ended before any data", provider=target.instance.name)
    return ChatStream(target, upstream, reader, first, chunks, failure)
