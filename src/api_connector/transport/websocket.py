"""Upstream WebSockets (live transcription): opened through aiohttp's client, under the same address
policy as every other outbound connection, with no redirect ever followed.

The HTTP client of ``transport.pool`` speaks HTTP/1.1 requests and answers only; a socket that stays
open both ways for a whole session is aiohttp's (its WebSocket client is mature and already a
dependency). One ``aiohttp.ClientSession`` per address policy is made on first use and closed with the
transport. A guarded pool's sockets resolve host names through ``GuardedResolver``, which drops every
address the policy forbids (a literal address is checked before connecting), so a provider instance a
project added cannot reach what its HTTP calls cannot.

A handshake the upstream answers without upgrading (401, 429, 503, ...) is not an exception here: it
comes back as the answer's status and headers (``core.exchange.Inbound``) for the capability to
classify like any other answer. Everything else the client raises is translated into the error tree.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from api_connector.core.exchange import Inbound
from api_connector.errors import AddressForbidden, UpstreamConnectError, UpstreamError, UpstreamTimeout
from api_connector.transport.guard import address_refusal

# Seconds between WebSocket pings to the upstream (a dead connection is noticed within about two).
PING_SECONDS = 20.0


class _Redirected(Exception):
    """An upstream answered the handshake with a redirect: reported as its answer, never followed."""

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers


async def _no_redirects(request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
    """aiohttp's WebSocket client follows redirects, with no option to stop it: stopped here, per hop."""
    response = await handler(request)
    if 300 <= response.status < 400:
        headers = dict(response.headers)
        response.close()
        raise _Redirected(response.status, headers)
    return response


class GuardedResolver(AbstractResolver):
    """Host names resolved by the default resolver, keeping only the addresses the policy allows."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if address_refusal(ipaddress.ip_address(r["host"]), self._allow_private) is None]
        if not allowed:
            raise AddressForbidden(
                f"refusing to connect to {host}: it resolves only to forbidden addresses", sent=False
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class SocketMessage:
    """One message from the upstream: text, binary, or its close (with the code and reason it gave)."""

    kind: str  # "text" | "binary" | "closed"
    data: str | bytes = b""
    code: int | None = None  # for "closed": the upstream's close code (None: the connection dropped)


class UpstreamSocket:
    """An open upstream WebSocket; ``close()`` is always called by its user."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self.headers: Mapping[str, str] = ws._response.headers if ws._response is not None else {}

    async def send_bytes(self, data: bytes) -> None:
        try:
            await self._ws.send_bytes(data)
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            raise UpstreamConnectError(f"the upstream socket is gone: {type(exc).__name__}") from None

    async def send_text(self, data: str) -> None:
        try:
            await self._ws.send_str(data)
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            raise UpstreamConnectError(f"the upstream socket is gone: {type(exc).__name__}") from None

    async def receive(self) -> SocketMessage:
        message = await self._ws.receive()
        if message.type is aiohttp.WSMsgType.TEXT:
            return SocketMessage("text", message.data)
        if message.type is aiohttp.WSMsgType.BINARY:
            return SocketMessage("binary", message.data)
        if message.type is aiohttp.WSMsgType.CLOSE:
            return SocketMessage("closed", message.extra or "", message.data)
        # CLOSED (closed on our side or dropped), CLOSING, ERROR: the socket's close code, if one came.
        code = self._ws.close_code
        return SocketMessage("closed", "", code if code not in (None, 1006) else None)

    async def close(self, code: int = 1000) -> None:
        if not self._ws.closed:
            try:
                async with asyncio.timeout(5):
                    await self._ws.close(code=code)
            except (TimeoutError, ConnectionError, aiohttp.ClientError):
                pass


class Sockets:
    """The transport's WebSocket client: a session per address policy, made on first use."""

    def __init__(self, user_agent: str, ssl_context: ssl.SSLContext) -> None:
        self._user_agent = user_agent
        self._ssl = ssl_context
        self._sessions: dict[bool | None, aiohttp.ClientSession] = {}

    def _session(self, allow_private: bool | None) -> aiohttp.ClientSession:
        """``allow_private`` None: unguarded (the operator's own instances)."""
        session = self._sessions.get(allow_private)
        if session is None or session.closed:
            resolver = GuardedResolver(allow_private) if allow_private is not None else None
            connector = aiohttp.TCPConnector(ssl=self._ssl, resolver=resolver, limit=0)
            session = self._sessions[allow_private] = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self._user_agent}, middlewares=(_no_redirects,)
            )
        return session

    async def open(
        self,
        url: URL,
        headers: Mapping[str, str],
        *,
        connect: float,
        allow_private: bool | None,
        max_message: int,
    ) -> UpstreamSocket | Inbound:
        """The open socket, or the answer of an upstream that would not upgrade."""
        if allow_private is not None and url.host is not None:
            _check_literal(url.host, allow_private)
        options: dict[str, Any] = {
            "headers": dict(headers),
            "heartbeat": PING_SECONDS,
            "max_msg_size": max_message,
            "autoclose": False,
            "timeout": aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
        }
        try:
            async with asyncio.timeout(connect):
                ws = await self._session(allow_private).ws_connect(url, **options)
        except aiohttp.WSServerHandshakeError as refused:
            return Inbound(refused.status, dict(refused.headers or {}), b"")
        except _Redirected as redirected:
            return Inbound(redirected.status, redirected.headers, b"")
        except UpstreamError:
            raise
        except TimeoutError:
            raise UpstreamTimeout("the upstream socket did not open in time", sent=False) from None
        except (OSError, aiohttp.ClientError) as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, UpstreamError) else None
            if cause is not None:  # the guarded resolver's refusal, wrapped by the client
                raise cause from None
            raise UpstreamConnectError(f"cannot open the upstream socket: {type(exc).__name__}", sent=False) from None
        return UpstreamSocket(ws)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


def _check_literal(host: str, allow_private: bool) -> None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    reason = address_refusal(address, allow_private)
    if reason:
        raise AddressForbidden(f"refusing to connect to {host}: {reason}", sent=False)
