"""HTTP/1.1 on one upstream connection: a small client on asyncio protocols (``transport.pool`` pools them).

Why not a general-purpose client: measured here (one core, loopback nginx, 64 concurrent callers), a
request through aiohttp's ClientSession cost about 250 µs of CPU and one through this module about
30 µs; on a gateway that sits on every call that difference is most of its overhead. What a gateway
asks of its upstream client is narrow and fully covered here: HTTP/1.1 with keep-alive, TLS with
verification, Content-Length and chunked bodies (and bodies ending with the connection), gzip, deflate
and brotli answers, a connection limit per pool with fair waiting, connect / read-gap / total
deadlines, an address policy checked on every resolved address (the pool's part), and streamed bodies
with flow control. Parsing is httptools (llhttp, the parser of Node.js).

Failures surface as the exceptions below (or TimeoutError / OSError); ``transport.http`` translates
them into the error tree.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

if TYPE_CHECKING:
    from api_connector.transport.pool import Pool

try:  # brotli comes with the service (responses are compressed with it); decode it when a server sends it.
    import brotli
except ImportError:  # pragma: no cover - a trimmed install: only gzip and deflate are asked for
    brotli = None

ACCEPT_ENCODING = "gzip, deflate, br" if brotli is not None else "gzip, deflate"
_PAUSE_AT = 1 << 18  # buffered body bytes nobody has read yet: stop reading the socket beyond this
NO_BODY_METHODS = frozenset({"HEAD"})


class ConnectFailed(OSError):
    """No connection could be made to any address of the upstream."""


class UpstreamClosed(ConnectionError):
    """The upstream closed the connection before the answer was complete."""


class StaleConnection(UpstreamClosed):
    """A reused keep-alive connection closed before any byte of the answer: safe to send again."""


class BadResponse(ValueError):
    """The upstream's bytes are not HTTP/1.1."""


class Response:
    """One answer: status and headers once ``head_ready``; the body as chunks, read by one reader."""

    __slots__ = (
        "_chunks", "_conn", "_loop", "_size", "_waiter", "complete", "error", "head_ready", "headers", "status"
    )

    def __init__(self, conn: Connection) -> None:
        self.status = 0
        self.headers: CIMultiDictProxy[str] = _EMPTY
        self._chunks: list[bytes] = []
        self._size = 0
        self.head_ready = False
        self.complete = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._conn: Connection | None = conn
        # The connection's loop, kept: asyncio.get_running_loop() costs a getpid system call on every use.
        self._loop = conn._loop

    # -- fed by the connection ------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > _PAUSE_AT and self._conn is not None:
            self._conn.pause()
        self._wake()

    def _finish(self, error: BaseException | None = None) -> None:
        if error is not None and not self.complete:
            self.error = error
        self.complete = True
        self._conn = None
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = self._loop.create_future()
        await self._waiter

    # -- read by the caller ---------------------------------------------------------------------
    async def head(self) -> None:
        while not self.head_ready and self.error is None:
            await self._wait()
        if self.error is not None:
            raise self.error

    async def read(self) -> bytes:
        while not self.complete:
            # The whole body is wanted: what is buffered counts as read, or a body beyond _PAUSE_AT would
            # leave the socket paused for good and the exchange would stall until its total deadline.
            self._size = 0
            if self._conn is not None:
                self._conn.resume()
            await self._wait()
        if self.error is not None:
            raise self.error
        chunks, self._chunks = self._chunks, []
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def __aiter__(self) -> Response:
        return self

    async def __anext__(self) -> bytes:
        """Everything buffered since the last call, as one chunk (fewer turns for the reader)."""
        while not self._chunks:
            if self.error is not None:
                raise self.error
            if self.complete:
                raise StopAsyncIteration
            await self._wait()
        chunks, self._chunks, self._size = self._chunks, [], 0
        if self._conn is not None:
            self._conn.resume()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def release(self) -> None:
        """The reader is done: a body not read to its end makes the connection unusable."""
        conn, self._conn = self._conn, None
        if conn is not None and not self.complete:
            conn.abort(UpstreamClosed("the answer was abandoned"))
        self._chunks = []


_EMPTY: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


class Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, parses its answer, returns itself to the pool."""

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self._pool = pool
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.closed = False
        self.used = 0  # answers completed on this connection
        self.idle_since = 0.0
        self._header_list: list[tuple[str, str]] = []
        self._decoder: Any = None
        self._delimited = True  # the body's end is known from its length or chunking, not the close
        self._head_only = False
        self._got_bytes = False
        self._paused = False
        self._gap = 0.0
        self._deadline: float | None = None
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._drained: asyncio.Future[None] | None = None  # set while the socket's write buffer is full

    # -- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.response is None:
            self.abort(BadResponse("bytes from the upstream with no request outstanding"))
            return
        self._got_bytes = True
        self._last = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.abort(BadResponse("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self.abort(BadResponse(f"invalid HTTP from the upstream: {type(exc).__name__}"))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        was_closed, self.closed = self.closed, True
        self._stop_timer()
        response = self.response
        if response is not None:
            self.response = None
            if response.head_ready and not self._delimited:
                response._finish(self._flush_decoder(response))  # the close is the body's end
            elif not self._got_bytes and self.used:
                response._finish(StaleConnection("a kept-alive connection was closed by the upstream"))
            else:
                response._finish(UpstreamClosed("the upstream closed the connection"))
        if not was_closed:
            self._pool._forget(self)
        self._wake_writer()

    def pause_writing(self) -> None:
        # Only a streamed request body waits for this (``write_body``); a whole one is buffered at once.
        if self._drained is None:
            self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        self._last = self._loop.time()  # the upstream is taking the body: it is not idle
        self._wake_writer()

    def _wake_writer(self) -> None:
        waiter, self._drained = self._drained, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httptools callbacks ----------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_list.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        response = self.response
        if response is None:
            return
        status = self._parser.get_status_code()
        raw, self._header_list = self._header_list, []
        if status < 200:  # an interim answer (103 Early Hints and the like): the real one follows
            return
        headers: CIMultiDict[str] = CIMultiDict(raw)
        response.status = status
        response.headers = CIMultiDictProxy(headers)
        if "content-length" not in headers and status != 204 and status != 304:
            self._delimited = "chunked" in headers.get("transfer-encoding", "").lower()
        encoding = headers.get("content-encoding")
        if encoding is not None:
            self._decoder = _decoder(encoding.strip().lower())
        response.head_ready = True
        response._wake()
        if self._head_only:
            self._complete(reusable=False)

    def on_body(self, body: bytes) -> None:
        response = self.response
        if response is None:
            return
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except Exception:
                self.abort(BadResponse("the upstream's compressed body is corrupt"))
                return
            if not body:
                return
        response._feed(body)

    def on_message_complete(self) -> None:
        response = self.response
        if response is None or not response.head_ready:
            return  # the end of an interim answer
        error = self._flush_decoder(response)
        if error is not None:
            self.abort(error)
            return
        self._complete(reusable=self._parser.should_keep_alive())

    # -- exchanges --------------------------------------------------------------------------------
    def send(self, data: bytes, response: Response, head_only: bool, gap: float, deadline: float | None) -> None:
        self.response = response
        self._head_only = head_only
        self._got_bytes = False
        self._delimited = True
        self._decoder = None
        self._arm(gap, deadline)
        assert self.transport is not None
        self.transport.write(data)

    async def write_body(self, chunks: AsyncIterator[bytes]) -> None:
        """A request body after its head, one piece at a time, waiting while the socket's buffer is full
        (memory stays at a few pieces whatever the size). Stops quietly when the connection is gone: the
        answer then carries the failure, or is the upstream's early answer."""
        try:
            async for chunk in chunks:
                if self.closed or self.transport is None or self.response is None:
                    return
                self.transport.write(chunk)
                self._last = self._loop.time()
                waiter = self._drained
                if waiter is not None:
                    await waiter
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    def _complete(self, reusable: bool) -> None:
        response, self.response = self.response, None
        self._stop_timer()
        self.used += 1
        if self._paused:
            self.resume()
        if response is not None:
            response._finish()
        if reusable and not self.closed:
            self._pool._release(self)
        else:
            self.abort(None)

    def _flush_decoder(self, response: Response) -> BaseException | None:
        decoder, self._decoder = self._decoder, None
        if decoder is None or not hasattr(decoder, "flush"):
            return None
        try:
            tail = decoder.flush()
        except Exception:
            return BadResponse("the upstream's compressed body is corrupt")
        if tail:
            response._feed(tail)
        return None

    def abort(self, error: BaseException | None) -> None:
        """Close now; the answer in flight (if any) fails with ``error``."""
        response, self.response = self.response, None
        if response is not None:
            response._finish(error or UpstreamClosed("the connection was closed"))
        self._stop_timer()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            self._pool._forget(self)

    # -- flow control and deadlines -------------------------------------------------------------------
    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self._last = self._loop.time()  # the wait was the reader's, not the upstream's
            self.transport.resume_reading()

    def _arm(self, gap: float, deadline: float | None) -> None:
        self._gap = gap
        self._deadline = deadline
        self._last = now = self._loop.time()
        due = now + gap
        self._timer = self._loop.call_at(due if deadline is None else min(due, deadline), self._check)

    def _check(self) -> None:
        """One timer for both deadlines: fire when due, otherwise sleep until the next one."""
        self._timer = None
        if self.response is None:
            return
        now = self._loop.time()
        if self._deadline is not None and now >= self._deadline:
            self.abort(TimeoutError("the upstream did not answer within the deadline"))
            return
        due = (now if self._paused else self._last) + self._gap
        if due <= now:
            self.abort(TimeoutError("the upstream sent nothing within the read timeout"))
            return
        self._timer = self._loop.call_at(due if self._deadline is None else min(due, self._deadline), self._check)

    def end_deadline(self) -> None:
        """The head arrived: from here on only gaps between reads are limited (streams)."""
        self._deadline = None

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _decoder(encoding: str) -> Any:
    if encoding == "gzip" or encoding == "x-gzip":
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return _Deflate()
    if encoding == "br" and brotli is not None:
        return _Brotli()
    return None  # identity, or an encoding nobody asked for: the body is passed on as it came


class _Deflate:
    """'deflate' is zlib-wrapped by the standard and raw by some servers: told apart by the first two bytes.

    A zlib stream opens with a header whose method nibble is 8 and whose two bytes, read as one number,
    divide by 31; a raw one nearly never does (and when it does, zlib refuses it at once and it is read
    raw). The choice waits until two bytes have arrived, however the upstream's writes cut the body.
    """

    def __init__(self) -> None:
        self._inner: Any = None
        self._start = b""

    def decompress(self, data: bytes) -> bytes:
        if self._inner is None:
            data = self._start + data
            if len(data) < 2:
                self._start = data
                return b""
            if data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
                self._inner = zlib.decompressobj(zlib.MAX_WBITS)
                try:
                    return bytes(self._inner.decompress(data))
                except zlib.error:  # a raw stream that happens to open like a zlib header
                    pass
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return bytes(self._inner.decompress(data))

    def flush(self) -> bytes:
        if self._inner is None:  # fewer than two bytes in all: nothing to decode
            return b""
        return bytes(self._inner.flush())


class _Brotli:
    """brotli's Decompressor calls its method ``process``; the body path calls ``decompress`` on every decoder."""

    def __init__(self) -> None:
        self._inner = brotli.Decompressor()

    def decompress(self, data: bytes) -> bytes:
        return bytes(self._inner.process(data))
