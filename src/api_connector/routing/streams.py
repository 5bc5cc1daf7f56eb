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
from typing import Any, NamedTuple, Protocol

from api_connector.core.call import NO_HEADERS
from api_connector.core.usage import Usage
from api_connector.errors import UpstreamError, UpstreamProtocolError
from api_connector.routing.catalog import Target
from api_connector.routing.classify import classify_vendor_error
from api_connector.transport.http import UpstreamStream
from api_connector.wire.base import ChatStreamTranslator, StreamFramingError
from api_connector.wire.sse import SSEEvent, SSEParser, data_payloads, frames


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
            # Whole data-only events, then at most the start of a line: that start is carried to the next
            # read, as a line would be, so whatever the path the same events reach the translator at the
            # same reads.
            whole, rest = _cut_whole(data)
            events = data_payloads(whole) if whole else None
            if events is not None:
                self._carry = rest
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


def _cut_whole(data: bytes) -> tuple[bytes, bytes]:
    """``data`` cut after its last blank line, if what follows is at most the start of a line (b"", data
    when it is not)."""
    end = data.rfind(b"\n\n") + 2
    if end < 2:
        return b"", data
    tail = data[end:]
    # find, not ``in``: ``in`` on bytes first tries its operand as an integer and pays for the error.
    if tail and (tail.find(b"\n") >= 0 or tail.find(b"\r") >= 0):
        return b"", data
    return (data[:end] if tail else data), tail


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


class StreamFilter(NamedTuple):
    """What a layer does to each batch of a stream (see ``AnswerStream.add_filter``)."""

    apply: Filter
    flush: Callable[[], list[bytes]] | None = None


class AnswerStream(ABC):
    """A streamed answer whose head arrived (and for chat its first payloads): failover is over.

    ``batches()`` gives the answer in the capability's pieces (chat chunk payloads, raw body reads),
    grouped by upstream read; ``sse()`` the same as SSE, a buffer per batch. Layers of the pipeline may
    add a filter (the secret scrubber) and ask for a copy of what passes (the cache). Once iterated,
    ``complete`` says whether it ended cleanly and ``error`` what broke it; ``usage`` is what it used
    (final once it ended).

    A kind of stream gives its batches through ``_next`` (a coroutine: the iterators here are plain
    objects, not async generators, which the loop would register and finalize once each per stream);
    ``GeneratedStream`` lets the less travelled kinds write theirs as an async generator.
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
        self._filters: list[StreamFilter] = []

    @property
    def usage(self) -> Usage:
        return Usage()

    @property
    def finished(self) -> bool:
        """Whether the upstream has said it is done (what is left may be held and sent at once)."""
        return False

    def add_filter(self, apply: Filter, flush: Callable[[], list[bytes]] | None = None) -> None:
        """Pass every batch through ``apply``; ``flush`` gives what it held back once the stream ends."""
        self._filters.append(StreamFilter(apply, flush))

    def batches(self) -> AsyncIterator[list[bytes]]:
        """The pieces to the end; raises UpstreamError on a break (also kept in ``error``)."""
        return _Delivery(self, False)

    def sse(self) -> AsyncIterator[bytes]:
        """``batches()`` as SSE: each batch's payloads framed, in one buffer."""
        return _Delivery(self, True)

    @abstractmethod
    async def _next(self) -> list[bytes] | None:
        """The next batch, None at the end."""

    def close(self) -> None:
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()


class GeneratedStream(AnswerStream):
    """A kind of stream whose pieces come from an async generator (``_pieces``): simpler to write, for
    the kinds a request meets less often than chat."""

    _source: AsyncIterator[list[bytes]] | None = None

    async def _next(self) -> list[bytes] | None:
        source = self._source
        if source is None:
            source = self._source = self._pieces()
        try:
            return await anext(source)
        except StopAsyncIteration:
            return None

    @abstractmethod
    def _pieces(self) -> AsyncIterator[list[bytes]]:
        """Where this kind of stream's pieces come from."""


class _Delivery:
    """One pass over a stream's batches, through its filters (and into its copy), then what the filters
    held back; the stream is closed when it ends, cleanly or not. ``framed``: as SSE buffers."""

    __slots__ = ("_flushed", "_framed", "_stream")

    def __init__(self, stream: AnswerStream, framed: bool) -> None:
        self._stream = stream
        self._framed = framed
        self._flushed = -1  # how many filters have given what they held back (-1: still reading)

    def __aiter__(self) -> _Delivery:
        return self

    async def __anext__(self) -> Any:
        stream = self._stream
        try:
            while self._flushed < 0:
                batch = await stream._next()
                if batch is None:
                    self._flushed = 0
                    break
                out = self._pass(batch)
                if out:
                    return out
            filters = stream._filters
            while self._flushed < len(filters):
                index = self._flushed
                self._flushed += 1
                flush = filters[index].flush
                tail = flush() if flush is not None else []
                for later in filters[index + 1 :]:
                    tail = later.apply(tail) if tail else tail
                if tail:
                    return self._out(tail)
        except UpstreamError as error:
            stream.error = error
            stream.close()
            raise
        except BaseException:
            stream.close()
            raise
        stream.complete = True
        stream.close()
        raise StopAsyncIteration

    def _pass(self, batch: list[bytes]) -> bytes | list[bytes]:
        for apply, _ in self._stream._filters:
            batch = apply(batch)
        return self._out(batch) if batch else batch

    def _out(self, batch: list[bytes]) -> bytes | list[bytes]:
        captured = self._stream.captured
        if captured is not None:
            captured.extend(batch)
        return frames(batch) if self._framed else batch


class ChatStream(AnswerStream):
    """A streamed chat answer: OpenAI ``chat.completion.chunk`` payloads, the first already read."""

    def __init__(
        self,
        target: Target,
        upstream: UpstreamStream,
        reader: PayloadReader,
        first: list[bytes],
        pending: UpstreamError | None = None,
    ) -> None:
        super().__init__(target)
        self.translator = reader.translator
        self._first: list[bytes] | None = first or None
        self._pending = pending  # a failure that came in the same read as the first payloads
        self._upstream = upstream
        self._reader = reader
        self._ended = False

    @property
    def usage(self) -> Usage:
        return self.translator.state.usage

    @property
    def finished(self) -> bool:
        return self.translator.state.done

    async def _next(self) -> list[bytes] | None:
        first = self._first
        if first is not None:
            self._first = None
            return first
        pending = self._pending
        if pending is not None:
            self._pending = None
            raise pending
        while not self._ended:
            chunk = await self._upstream.next_chunk()
            if chunk is None:
                self._ended = True
                last = self._reader.end()
                if not self.translator.state.done:
                    assert self.target is not None
                    self._pending = UpstreamProtocolError(
                        "upstream stream ended early", provider=self.target.instance.name
                    )
                if last:
                    return last
                return await self._next()
            batch, failure = self._reader.read(chunk)
            if failure is not None:
                if not batch:
                    raise failure
                self._pending = failure  # after what came before it in the same read
            if batch:
                return batch
        return None

    def close(self) -> None:
        self._upstream.close()
        super().close()


class RawStream(AnswerStream):
    """An upstream body passed on as it arrives, one piece per network read (the generic stream API,
    audio). ``first``: the piece already read (``first_bytes``); ``usage``: what the answer uses, when
    the request says it (characters to speak)."""

    def __init__(
        self, target: Target, upstream: UpstreamStream, first: bytes = b"", usage: Usage | None = None
    ) -> None:
        super().__init__(target)
        self.status = upstream.status
        self.headers = upstream.headers
        self._upstream = upstream
        self._first = first
        self._usage = usage

    @property
    def usage(self) -> Usage:
        return self._usage if self._usage is not None else Usage()

    async def _next(self) -> list[bytes] | None:
        first = self._first
        if first:
            self._first = b""
            return [first]
        chunk = await self._upstream.next_chunk()
        return None if chunk is None else [chunk]

    def close(self) -> None:
        self._upstream.close()
        super().close()


class ReplayStream(AnswerStream):
    """A stream of pieces already in hand: those kept of an earlier one (the cache), or a vendor's whole
    answer handed on as one piece (audio that came base64 in JSON)."""

    def __init__(self, target: Target | None, pieces: list[bytes], usage: Usage) -> None:
        super().__init__(target)
        self._kept: list[bytes] | None = pieces or None
        self._usage = usage

    @property
    def usage(self) -> Usage:
        return self._usage

    async def _next(self) -> list[bytes] | None:
        kept, self._kept = self._kept, None
        return kept


async def first_bytes(target: Target, upstream: UpstreamStream, usage: Usage | None = None) -> RawStream:
    """Read until the body's first bytes arrived: a failure (or a body that ends empty) until then can
    still fail over; after it, the body is the client's."""
    while (chunk := await upstream.next_chunk()) is not None:
        if chunk:
            return RawStream(target, upstream, chunk, usage)
    raise UpstreamProtocolError("upstream answered with an empty body", provider=target.instance.name)


async def first_payloads(target: Target, upstream: UpstreamStream, translator: ChatStreamTranslator) -> ChatStream:
    """Read until the first payload for the client exists: failures until then can still fail over."""
    reader = stream_reader(translator, target.instance.name)
    first: list[bytes] = []
    failure: UpstreamError | None = None
    while (chunk := await upstream.next_chunk()) is not None:
        first, failure = reader.read(chunk)
        if failure is not None and not first:
            raise failure  # nothing reached the client yet: the next target may serve
        if first or translator.state.done:
            break
    if not first and not translator.state.done:
        raise UpstreamProtocolError("upstream stream ended before any data", provider=target.instance.name)
    return ChatStream(target, upstream, reader, first, failure)
