"""The HTTP client: one pool of keep-alive connections per provider instance.

The client is ``transport.pool`` over ``transport.http1``, chosen by measurement: on one core here a
call through it costs about a tenth of the CPU of one through aiohttp's client (and aiohttp's is about
ten times cheaper than httpx's under concurrency). Each provider instance gets its own pool so one slow
provider cannot starve the others of connections, with its own connection limit and timeouts. TLS
verification is always on. The client's exceptions are translated here into the error tree; nobody
above sees them.

Every outbound HTTP call of the service goes through here: provider calls, credential verification
probes, health probes and alert webhooks. A 3xx is an answer like any other: no ``Location`` is ever
fetched, so no answer can lead a call past the address guard of a guarded pool.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from yarl import URL

from api_connector.core.exchange import BodyStream, Inbound, read_whole
from api_connector.errors import (
    AddressForbidden,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from api_connector.transport.guard import ForbiddenAddress
from api_connector.transport.http1 import BadResponse, ConnectFailed, Response, UpstreamClosed
from api_connector.transport.local import LocalDisconnect, LocalResponse, LocalUpstream
from api_connector.transport.pool import Pool, default_ssl_context
from api_connector.transport.websocket import Sockets, UpstreamSocket


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds: to connect, between bytes read, and for the whole exchange."""

    connect: float = 10.0
    read: float = 60.0
    total: float = 120.0

    def capped(self, remaining: float | None) -> Timeouts:
        """The same timeouts, never beyond what is left of the caller's deadline."""
        if remaining is None or remaining >= self.total:
            return self
        return Timeouts(min(self.connect, remaining), min(self.read, remaining), max(remaining, 0.001))


# A whole upstream answer (the type lives in core: wires read it too).
UpstreamResponse = Inbound


class UpstreamStream:
    """An upstream answer whose body is read as it arrives; always closed by its reader.

    ``chunks()`` gives each network read whole, so a caller can translate a read's events together
    and write once per read instead of once per event (one system call, not twenty).
    """

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        chunks: AsyncIterator[bytes],
        release: Callable[[], None] | None = None,
        read_timeout: float | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks
        self._release = release
        self._read_timeout = read_timeout

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as the network delivers it."""
        while (chunk := await self.next_chunk()) is not None:
            yield chunk

    async def next_chunk(self) -> bytes | None:
        """The body's next network read, None at its end: ``chunks`` one read at a time, for a reader
        that keeps no async generator (each one is registered with the loop and finalized)."""
        try:
            if self._read_timeout is None:
                return await anext(self._chunks)
            async with asyncio.timeout(self._read_timeout):
                return await anext(self._chunks)
        except StopAsyncIteration:
            return None
        except UpstreamError:
            raise
        except Exception as exc:
            raise _translate(exc, "while streaming") from None

    async def read_all(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None


class Transport:
    """Owns every connection pool; ``close()`` on shutdown."""

    def __init__(
        self,
        *,
        user_agent: str = "api-connector",
        allow_private: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._pools: dict[str, Pool] = {}
        self._retired: list[Pool] = []  # renewed pools still serving their requests in flight
        self._limits: dict[str, int] = {}
        self._guarded: set[str] = set()
        self._private: dict[str, bool] = {}  # pools whose private-address policy is not the service's
        self._user_agent = user_agent
        self._allow_private = allow_private
        self._ssl = ssl_context or default_ssl_context()
        self._sockets = Sockets(user_agent, self._ssl)

    def configure_pool(
        self, pool: str, *, max_connections: int, guarded: bool = False, allow_private: bool | None = None
    ) -> None:
        """Connection limit of a pool; ``guarded`` pools connect only where the SSRF policy allows.

        ``allow_private`` overrides the service's policy for this pool's loopback and private addresses
        (an operator may allow them for one alert webhook); link-local and metadata stay refused.
        """
        self._limits[pool] = max_connections
        if guarded:
            self._guarded.add(pool)
        if allow_private is not None:
            self._private[pool] = allow_private

    def _pool(self, name: str) -> Pool:
        pool = self._pools.get(name)
        if pool is None or pool.closed:
            pool = self._pools[name] = Pool(
                self._limits.get(name, 100),
                ssl_context=self._ssl,
                guarded=name in self._guarded,
                allow_private=self._private.get(name, self._allow_private),
                user_agent=self._user_agent,
            )
        return pool

    def opened(self, name: str) -> Pool:
        """The pool of ``name``, made now if it was not yet (pools are otherwise made on first use)."""
        return self._pool(name)

    def renew(self, names: Iterable[str]) -> int:
        """Give each named pool a fresh successor; answers how many pools were retired.

        New requests go to the successor at once; the old pool keeps serving the requests already on it
        and closes each connection as its answer ends (``Pool.retire``), so a renewal fails no request
        and, once drained, leaves no connection of the old pool open (new DNS answers, TLS sessions and
        keep-alive state come with the new one).
        """
        self._retired = [pool for pool in self._retired if not pool.drained]
        retired = 0
        for name in names:
            old = self._pools.pop(name, None)
            self._pool(name)
            if old is not None and not old.closed:
                old.retire()
                retired += 1
                if not old.drained:
                    self._retired.append(old)
        return retired

    @property
    def draining(self) -> int:
        """Retired pools that still hold a request in flight."""
        return sum(1 for pool in self._retired if not pool.drained)

    async def send(
        self,
        pool: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | BodyStream | None,
        timeouts: Timeouts,
        params: Mapping[str, str] | None = None,
        local: LocalUpstream | None = None,
        path: str = "",
    ) -> UpstreamResponse:
        if local is not None:
            stream = await self._local(local, method, path, headers, body, timeouts)
            async with asyncio.timeout(timeouts.total):
                return UpstreamResponse(stream.status, stream.headers, await stream.read_all())
        try:
            response = await self._request(pool, method, url, params, headers, body, timeouts, stream=False)
            try:
                payload = await response.read()
            finally:
                response.release()
            return UpstreamResponse(response.status, response.headers, payload)
        except UpstreamError:
            raise
        except Exception as exc:
            raise _translate(exc, "") from None

    async def open_stream(
        self,
        pool: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | BodyStream | None,
        timeouts: Timeouts,
        params: Mapping[str, str] | None = None,
        local: LocalUpstream | None = None,
        path: str = "",
    ) -> UpstreamStream:
        if local is not None:
            return await self._local(local, method, path, headers, body, timeouts)
        # Connect and head within the total budget; the body then only by the gaps between reads.
        try:
            response = await self._request(pool, method, url, params, headers, body, timeouts, stream=True)
        except Exception as exc:
            raise _translate(exc, "") from None
        return UpstreamStream(response.status, response.headers, response, release=response.release)

    def _request(
        self,
        pool: str,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        body: bytes | BodyStream | None,
        timeouts: Timeouts,
        *,
        stream: bool,
    ) -> Awaitable[Response]:
        return self._pool(pool).request(
            method,
            _url(url, params),
            headers,
            body,
            connect=timeouts.connect,
            read=timeouts.read,
            total=timeouts.total,
            stream=stream,
        )

    async def _local(
        self,
        local: LocalUpstream,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | BodyStream | None,
        timeouts: Timeouts,
    ) -> UpstreamStream:
        try:
            async with asyncio.timeout(timeouts.total):
                answer: LocalResponse = await local.handle(method, path, headers, await read_whole(body))
        except Exception as exc:
            raise _translate(exc, "") from None
        lines = answer.lines if answer.lines is not None else _single(answer.body)
        return UpstreamStream(answer.status, answer.headers, lines, read_timeout=timeouts.read)

    async def open_socket(
        self,
        pool: str,
        url: str,
        *,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        params: Mapping[str, str] | None = None,
        max_message: int,
    ) -> UpstreamSocket | UpstreamResponse:
        """A WebSocket to ``url`` (``ws://`` or ``wss://``) under the pool's address policy, or the
        answer of an upstream that would not upgrade (``transport.websocket``)."""
        allow_private = self._private.get(pool, self._allow_private) if pool in self._guarded else None
        return await self._sockets.open(
            _url(url, params), headers, connect=timeouts.connect, allow_private=allow_private, max_message=max_message
        )

    async def close(self) -> None:
        pools, self._pools = [*self._pools.values(), *self._retired], {}
        self._retired = []
        for pool in pools:
            pool.close()
        await self._sockets.close()


async def _single(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _url(url: str, params: Mapping[str, str] | None) -> URL:
    return _parsed(url).extend_query(params) if params else _parsed(url)


# A URL made only of these characters, every "%" starting an escape, is already in its encoded form.
_ENCODED_URL = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


@functools.lru_cache(maxsize=4096)
def _parsed(url: str) -> URL:
    # Parsing a URL is a visible share of a call; the same few base URL + path pairs recur.
    # A URL already encoded is sent exactly as written: re-encoding would turn "%3A" into ":", and a
    # request signature (SigV4) covers the path as it was written. Anything else is encoded here.
    return URL(url, encoded=True) if _ENCODED_URL.fullmatch(url) else URL(url)


def _translate(exc: BaseException, when: str) -> UpstreamError:
    """Client / asyncio / simulated failures -> the error tree. Messages never carry URLs with secrets."""
    suffix = f" {when}" if when else ""
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"upstream did not answer in time{suffix}")
    if isinstance(exc, ForbiddenAddress):
        return AddressForbidden(str(exc), sent=False)
    if isinstance(exc, ConnectFailed):
        # Nothing was sent: safe to send again whatever the request does.
        return UpstreamConnectError(f"cannot connect to upstream: {type(exc.__cause__).__name__}", sent=False)
    if isinstance(exc, LocalDisconnect | UpstreamClosed):
        return UpstreamProtocolError(f"upstream closed the connection{suffix}")
    if isinstance(exc, BadResponse):
        return UpstreamProtocolError(f"upstream protocol error{suffix}: {exc}")
    if isinstance(exc, OSError):
        return UpstreamConnectError(f"connection to upstream failed{suffix}: {type(exc).__name__}")
    if isinstance(exc, UpstreamError):
        return exc
    return UpstreamProtocolError(f"upstream request failed{suffix}: {type(exc).__name__}")
