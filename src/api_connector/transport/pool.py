"""The connections of one provider instance: a limit with fair waiting, keep-alive reuse, addresses checked.

Half of the upstream client (``transport.http1`` speaks HTTP/1.1 on each connection): ``Pool.request``
writes a request as one buffer on an idle connection or a new one, within the instance's connection
limit; resolves host names (cached for five minutes) and checks every address against the SSRF policy
for guarded pools; and sends a request once more on a fresh connection when a kept-alive one turns out
to have been closed by the upstream before any byte of the answer.

A pool is renewed (``Transport.renew``) by retiring it: the transport hands new requests to a fresh
pool at once, while the retired one keeps serving what it already holds (requests in flight, callers
waiting for a connection) and closes each connection as it comes back, so it drains to nothing
without failing a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from typing import cast

from yarl import URL

from api_connector.core.exchange import BodyStream
from api_connector.transport.guard import ForbiddenAddress, address_refusal
from api_connector.transport.http1 import (
    ACCEPT_ENCODING,
    NO_BODY_METHODS,
    ConnectFailed,
    Connection,
    Response,
    StaleConnection,
    UpstreamClosed,
)

_DNS_TTL = 300.0


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
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._origin_of: dict[Connection, tuple[str, str, int]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._targets: dict[tuple[str, URL], tuple[tuple[str, str, int], str]] = {}
        # The loop the pool serves, learnt on its first request: asyncio.get_running_loop() costs a getpid
        # system call on every use, and a pool's connections belong to one loop anyway.
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self.retired = False  # renewed: serves what it holds, keeps no connection for later

    async def request(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | BodyStream | None,
        *,
        connect: float,
        read: float,
        total: float,
        stream: bool = False,
    ) -> Response:
        """Send the request; returns once the answer's head arrived (``await response.read()`` for the rest).

        ``total`` bounds the whole exchange, or for a ``stream`` only up to the head; ``read`` bounds every
        wait for the next bytes, ``connect`` the wait for a connection. A ``BodyStream`` body is written
        after the head, piece by piece as the socket takes it (never whole in memory), and again from
        its start when the request is sent once more.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        origin, head = self._target(method, url)
        streamed = _streamed(body)
        data = _encode(head, method, headers, body, self._user_agent, streamed)
        head_deadline = loop.time() + total
        fresh = False
        while True:
            conn = None if fresh else self._idle_connection(origin, loop)
            if conn is None:
                conn = await self._acquire(origin, loop, min(connect, max(head_deadline - loop.time(), 0.001)), fresh)
            response = Response(conn)
            conn.send(data, response, method in NO_BODY_METHODS, read, head_deadline)
            try:
                if streamed:
                    await conn.write_body(cast(BodyStream, body).chunks())
                await response.head()
            except StaleConnection:
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

    def _idle_connection(self, origin: tuple[str, str, int], loop: asyncio.AbstractEventLoop) -> Connection | None:
        """A kept-alive connection to reuse at once (most recently used first), or None."""
        idle = self._idle.get(origin)
        if not idle or self.closed or self.retired:
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
    ) -> Connection:
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

    async def _wait_turn(self, loop: asyncio.AbstractEventLoop) -> Connection | None:
        waiter: asyncio.Future[Connection | None] = loop.create_future()
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

    async def _connect(self, origin: tuple[str, str, int], loop: asyncio.AbstractEventLoop) -> Connection:
        scheme, host, port = origin
        tls = scheme == "https"
        port = port or (443 if tls else 80)
        last: BaseException | None = None
        for address in await self._resolve(host, port, loop):
            try:
                _, conn = await loop.create_connection(
                    lambda: Connection(self, loop),
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
    def _release(self, conn: Connection) -> None:
        if self.closed:
            conn.abort(None)
            return
        conn.idle_since = conn._loop.time()
        self._hand_on(conn) if self._waiters else self._park(conn)

    def _park(self, conn: Connection) -> None:
        if self.retired:  # nobody waits for it and nobody new will come: let it go
            conn.abort(None)
            return
        self._idle.setdefault(self._origin_of[conn], []).append(conn)

    def _hand_on(self, conn: Connection | None) -> None:
        """Give the first live waiter ``conn`` (or, when None, the right to open a connection)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is not None:
            self._park(conn)

    def _forget(self, conn: Connection) -> None:
        origin = self._origin_of.pop(conn, None)
        if origin is None:
            return
        idle = self._idle.get(origin)
        if idle and conn in idle:
            idle.remove(conn)
        self._open -= 1
        self._hand_on(None)

    @property
    def in_use(self) -> int:
        """Connections carrying a request now (open ones not idle)."""
        return self._open - sum(len(idle) for idle in self._idle.values())

    @property
    def waiting(self) -> int:
        """Callers waiting for a connection (the pool is at its limit)."""
        return len(self._waiters)

    @property
    def drained(self) -> bool:
        """No connection open and nobody waiting for one: a retired pool has nothing left to serve."""
        return self._open == 0 and not self._waiters

    def retire(self) -> None:
        """Stop keeping connections: idle ones close now, busy ones when their answer is done.

        Unlike ``close``, nothing in flight fails: requests already on this pool finish here, and callers
        waiting for a connection still get one (a busy connection's turn, or a slot to open one).
        """
        self.retired = True
        for idle in self._idle.values():
            for conn in list(idle):
                conn.abort(None)
        self._idle.clear()

    def close(self) -> None:
        self.closed = True
        for conn in list(self._origin_of):
            if conn.response is None:
                conn.abort(None)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(UpstreamClosed("the client is closed"))
        self._waiters.clear()


def _streamed(body: bytes | BodyStream | None) -> bool:
    """Whether ``body`` is sent in pieces. Whole bodies are told apart by their type first: an isinstance
    check against a runtime-checkable Protocol that fails walks the Protocol's members, which cost more
    than the rest of encoding a request."""
    return body is not None and not isinstance(body, bytes | bytearray | memoryview) and isinstance(body, BodyStream)


def _encode(
    head: str,
    method: str,
    headers: Mapping[str, str],
    body: bytes | BodyStream | None,
    user_agent: str,
    streamed: bool,
) -> bytes:
    """The request's head and body as one buffer: one write, one packet for small requests (a streamed
    body: the head alone, its length declared; the body follows in pieces)."""
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
    whole = None if streamed else cast("bytes | None", body)
    if body is not None or method in _BODY_METHODS:
        parts.append(f"Content-Length: {cast(BodyStream, body).size if streamed else len(whole or b'')}\r\n")
    parts.append("\r\n")
    encoded = "".join(parts).encode("utf-8")
    return encoded + whole if whole else encoded


_SET_HERE = re.compile(r"\n(?:host|content-length|transfer-encoding|connection):")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ACCEPT_LINE = f"Accept-Encoding: {ACCEPT_ENCODING}\r\n"


def default_ssl_context() -> ssl.SSLContext:
    """Certificates and host names verified against the system's roots; HTTP/1.1 offered by ALPN."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context
