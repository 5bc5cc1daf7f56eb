"""HTTP/1.1 to upstreams over pooled keep-alive connections: a small client on asyncio protocols.

Why not a general-purpose client: measured here (one core, loopback nginx, 64 concurrent callers), a
request through aiohttp's ClientSession cost about 250 µs of CPU and one through this module about
30 µs; on a gateway that sits on every call that difference is most of its overhead. What a gateway
asks of its upstream client is narrow and fully covered here: HTTP/1.1 with keep-alive, TLS with
verification, Content-Length and chunked bodies (and bodies ending with the connection), gzip, deflate
and brotli answers, a connection limit per pool with fair waiting, connect / read-gap / total
deadlines, an address policy checked on every resolved address, and streamed bodies with flow control.
Parsing is httptools (llhttp, the parser of Node.js).

Failures surface as the exceptions below (or TimeoutError / OSError); ``transport.http`` translates
them into the error tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any

import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from api_connector.transport.guard import ForbiddenAddress, address_refusal

try:  # brotli comes with the service (responses are compressed with it); decode it when a server sends it.
    import brotli
except ImportError:  # pragma: no cover - a trimmed install: only gzip and deflate are asked for
    brotli = None

ACCEPT_ENCODING = "gzip, deflate, br" if brotli is not None else "gzip, deflate"
_DNS_TTL = 300.0
_PAUSE_AT = 1 << 18  # buffered body bytes nobody has read yet: stop reading the socket beyond this
_NO_BODY_METHODS = frozenset({"HEAD"})


class ConnectFailed(OSError):
    """No connection could be made to any address of the upstream."""


class UpstreamClosed(ConnectionError):
    """The upstream closed the connection before the answer was complete."""


class _StaleConnection(UpstreamClosed):
    """A reused keep-alive connection closed before any byte of the answer: safe to send again."""


class BadResponse(ValueError):
    """The upstream's bytes are not HTTP/1.1."""


class Response:
    """One answer: status and headers once ``head_ready``; the body as chunks, read by one reader."""

    __slots__ = ("_chunks", "_conn", "_size", "_waiter", "complete", "error", "head_ready", "headers", "status")

    def __init__(self, conn: _Connection) -> None:
        self.status = 0
        self.headers: CIMultiDictProxy[str] = _EMPTY
        self._chunks: list[bytes] = []
        self._size = 0
        self.head_ready = False
        self.complete = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._conn: _Connection | None = conn

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
        self._waiter = asyncio.get_running_loop().create_future()
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


class _Connection(asyncio.Protocol):
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
                response._finish(_StaleConnection("a kept-alive connection was closed by the upstream"))
            else:
                response._finish(UpstreamClosed("the upstream closed the connection"))
        if not was_closed:
            self._pool._forget(self)

    def pause_writing(self) -> None:  # request bodies are written whole; the socket buffers them
        pass

    def resume_writing(self) -> None:
        pass

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
    """'deflate' is zlib-wrapped by the standard and raw by some servers: take whichever arrives."""

    def __init__(self) -> None:
        self._inner: Any = None
        self._first = b""

    def decompress(self, data: bytes) -> bytes:
        if self._inner is None:
            self._inner = zlib.decompressobj(zlib.MAX_WBITS)
            try:
                return bytes(self._inner.decompress(data))
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return bytes(self._inner.decompress(data))

    def flush(self) -> bytes:
        return bytes(self._inner.flush()) if self._inner is not None else b""


class _Brotli:
    """brotli's Decompressor calls its method ``process``; the body path calls ``decompress`` on every decoder."""

    def __init__(self) -> None:
        self._inner = brotli.Decompressor()

    def decompress(self, data: bytes) -> bytes:
        return bytes(self._inner.process(data))


class Pool:
    """The connections of one provider instance: at most ``limit`` open, idle ones reused last-in first-out."""

    def __init__(
        self,
        limit: int,
        *,
        ssl_context: ssl.SSLContext,
        guarded: bool = False,
        allow_private: bool = True,
        keepalive: float = 30.0,
        user_agent: str | None = None,
    ) -> None:
        self._limit = max(limit, 1)
        self._user_agent = f"User-Agent: {user_agent}\r\n" if user_agent else ""
        self._ssl = ssl_context
        self._guarded = guarded
        self._allow_private = allow_private
        self._keepalive = keepalive
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._origin_of: dict[_Connection, tuple[str, str, int]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._targets: dict[tuple[str, URL], tuple[tuple[str, str, int], str]] = {}
        self.closed = False

    async def request(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        connect: float,
        read: float,
        total: float,
        stream: bool = False,
    ) -> Response:
        """Send the request; returns once the answer's head arrived (``await response.read()`` for the rest).

        ``total`` bounds the whole exchange, or for a ``stream`` only up to the head; ``read`` bounds every
        wait for the next bytes, ``connect`` the wait for a connection.
        """
        loop = asyncio.get_running_loop()
        origin, head = self._target(method, url)
        data = _encode(head, method, headers, body, self._user_agent)
        head_deadline = loop.time() + total
        fresh = False
        while True:
            conn = None if fresh else self._idle_connection(origin, loop)
            if conn is None:
                conn = await self._acquire(origin, loop, min(connect, max(head_deadline - loop.time(), 0.001)), fresh)
            response = Response(conn)
            conn.send(data, response, method in _NO_BODY_METHODS, read, head_deadline)
            try:
                await response.head()
            except _StaleConnection:
                if fresh:
                    raise
                fresh = True  # the upstream closed an idle connection as we wrote: once more, on a new one
                continue
            except BaseException:
                response.release()
                raise
            if stream:
                conn.end_deadline()
            return response

    def _target(self, method: str, url: URL) -> tuple[tuple[str, str, int], str]:
        """(origin, request line and Host header) of a method and URL; the same few recur, so they are kept."""
        key = (method, url)
        known = self._targets.get(key)
        if known is None:
            if len(self._targets) >= 1024:
                self._targets.clear()
            origin = (url.scheme, url.raw_host or "", url.port or 0)
            head = f"{method} {url.raw_path_qs or '/'} HTTP/1.1\r\nHost: {url.host_port_subcomponent or ''}\r\n"
            known = self._targets[key] = (origin, head)
        return known

    def _idle_connection(self, origin: tuple[str, str, int], loop: asyncio.AbstractEventLoop) -> _Connection | None:
        """A kept-alive connection to reuse at once (most recently used first), or None."""
        idle = self._idle.get(origin)
        if not idle or self.closed:
            return None
        now = loop.time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self._keepalive:
                return conn
            conn.abort(None)
        return None

    async def _acquire(
        self, origin: tuple[str, str, int], loop: asyncio.AbstractEventLoop, connect: float, fresh: bool
    ) -> _Connection:
        """A connection when none is idle: a new one within the limit, or the next one released."""
        if self.closed:
            raise UpstreamClosed("the client is closed")
        async with asyncio.timeout(connect):
            while self._open >= self._limit:
                conn_or_slot = await self._wait_turn(loop)
                if conn_or_slot is not None:
                    if self._origin_of.get(conn_or_slot) == origin and not fresh:
                        return conn_or_slot
                    conn_or_slot.abort(None)  # another origin's connection: close it, its slot is ours
            self._open += 1
            try:
                return await self._connect(origin, loop)
            except BaseException:
                self._open -= 1
                self._hand_on(None)
                raise

    async def _wait_turn(self, loop: asyncio.AbstractEventLoop) -> _Connection | None:
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._hand_on(waiter.result())  # given a turn just as we gave up: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    async def _connect(self, origin: tuple[str, str, int], loop: asyncio.AbstractEventLoop) -> _Connection:
        scheme, host, port = origin
        tls = scheme == "https"
        port = port or (443 if tls else 80)
        last: BaseException | None = None
        for address in await self._resolve(host, port, loop):
            try:
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, loop),
                    address,
                    port,
                    ssl=self._ssl if tls else None,
                    server_hostname=host.strip("[]") if tls else None,
                )
            except OSError as exc:  # ssl.SSLError included: try the next address, report the last
                last = exc
                continue
            self._origin_of[conn] = origin
            return conn
        raise ConnectFailed(f"cannot connect to {host}:{port}: {type(last).__name__}") from last

    async def _resolve(self, host: str, port: int, loop: asyncio.AbstractEventLoop) -> list[str]:
        """The addresses to try, after the policy (every connection, so a changed DNS answer gains nothing)."""
        bare = host.strip("[]")
        try:
            addresses = [str(ipaddress.ip_address(bare))]
        except ValueError:
            cached = self._dns.get((bare, port))
            if cached is not None and cached[0] > loop.time():
                addresses = cached[1]
            else:
                infos = await loop.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
                addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
                self._dns[(bare, port)] = (loop.time() + _DNS_TTL, addresses)
        if not self._guarded:
            return addresses
        allowed = [a for a in addresses if address_refusal(ipaddress.ip_address(a), self._allow_private) is None]
        if not allowed:
            raise ForbiddenAddress(f"refusing to connect to {bare}: it resolves only to forbidden addresses")
        return allowed

    # -- called by connections ----------------------------------------------------------------------
    def _release(self, conn: _Connection) -> None:
        if self.closed:
            conn.abort(None)
            return
        conn.idle_since = conn._loop.time()
        self._hand_on(conn) if self._waiters else self._park(conn)

    def _park(self, conn: _Connection) -> None:
        self._idle.setdefault(self._origin_of[conn], []).append(conn)

    def _hand_on(self, conn: _Connection | None) -> None:
        """Give the first live waiter ``conn`` (or, when None, the right to open a connection)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is not None:
            self._park(conn)

    def _forget(self, conn: _Connection) -> None:
        origin = self._origin_of.pop(conn, None)
        if origin is None:
            return
        idle = self._idle.get(origin)
        if idle and conn in idle:
            idle.remove(conn)
        self._open -= 1
        self._hand_on(None)

    def close(self) -> None:
        self.closed = True
        for conn in list(self._origin_of):
            if conn.response is None:
                conn.abort(None)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(UpstreamClosed("the client is closed"))
        self._waiters.clear()


def _encode(head: str, method: str, headers: Mapping[str, str], body: bytes | None, user_agent: str) -> bytes:
    """The request's head and body as one buffer: one write, one packet for small requests."""
    lines = [f"{name}: {value}\r\n" for name, value in headers.items()]
    block = "".join(lines)
    # Exactly one CR and one LF a line: a line break inside a name or value would split the request.
    if block.count("\n") != len(lines) or block.count("\r") != len(lines):
        raise ValueError("a header name or value holds a line break")
    names = "\n" + block.lower()
    if _SET_HERE.search(names):  # framing is this client's: a caller's Host or Content-Length is dropped
        block = "".join(line for line in lines if not _SET_HERE.match("\n" + line.lower()))
    parts = [head, block]
    if "\naccept-encoding:" not in names:
        parts.append(_ACCEPT_LINE)
    if "\nuser-agent:" not in names:
        parts.append(user_agent)
    if body is not None or method in _BODY_METHODS:
        parts.append(f"Content-Length: {len(body) if body else 0}\r\n")
    parts.append("\r\n")
    encoded = "".join(parts).encode("utf-8")
    return encoded + body if body else encoded


_SET_HERE = re.compile(r"\n(?:host|content-length|transfer-encoding|connection):")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ACCEPT_LINE = f"Accept-Encoding: {ACCEPT_ENCODING}\r\n"


def default_ssl_context() -> ssl.SSLContext:
    """Certificates and host names verified against the system's roots; HTTP/1.1 offered by ALPN."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context
