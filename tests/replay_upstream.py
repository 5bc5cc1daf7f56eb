"""A loopback HTTP server that answers with recorded provider responses.

Point a provider instance's ``base_url`` at ``server.rebase(spec.base_url)`` and every request gets the
next recorded answer for its method and path (the path as sent, percent-escapes kept; recorded query
strings are ignored). Streamed answers (SSE, AWS event streams) are written in a few pieces cut at
arbitrary byte offsets, so clients must reassemble events across reads as they do with real vendors.
What the server received is kept in ``received`` for assertions. URLs of the vendor's own in recorded
answers (a job's status and stream URLs) can be pointed here too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from tests.loopback import serve
from tests.recorded import Interaction

_URL = re.compile(rb"https?://[^\s\"'<>/]+")


class ReceivedRequest(NamedTuple):
    method: str
    path: str  # as sent: percent-escapes are kept
    headers: Mapping[str, str]  # lower-case names
    body: Any  # parsed JSON; raw bytes when not JSON; None when empty
    query: Mapping[str, str] = {}  # the query string's parameters (first value of each)
    query_string: str = ""  # as it was sent (still percent-encoded)
    raw: bytes = b""  # the body as sent (what a request signature covers)


class ReplayServer:
    def __init__(self, interactions: Iterable[Interaction], sse_pieces: int) -> None:
        self._pending = list(interactions)
        self._sse_pieces = max(1, sse_pieces)
        self.base_url = ""
        self.received: list[ReceivedRequest] = []
        # Requests no recorded interaction was left for: a test should expect none.
        self.unexpected: list[ReceivedRequest] = []

    @property
    def remaining(self) -> list[Interaction]:
        """Recorded interactions not yet asked for."""
        return list(self._pending)

    def rebase(self, real_base_url: str) -> str:
        """A provider's real base URL moved onto this server, path kept (``.../openai/v1``)."""
        return self.base_url + urlsplit(real_base_url).path.rstrip("/")

    def point_here(self, vendors: Callable[[str], bool]) -> None:
        """Move the URLs in recorded answers whose origin ``vendors`` accepts onto this server (paths kept)."""
        here = self.base_url.encode()

        def moved(match: re.Match[bytes]) -> bytes:
            return here if vendors(match.group().decode()) else match.group()

        pending = []
        for item in self._pending:
            answer = dataclasses.replace(item.response, body=_URL.sub(moved, item.response.body))
            pending.append(dataclasses.replace(item, response=answer))
        self._pending = pending

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        received = ReceivedRequest(
            method=request.method,
            path=request.rel_url.raw_path,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=_parse(raw),
            query=dict(request.query),
            query_string=request.rel_url.raw_query_string,
            raw=raw,
        )
        self.received.append(received)
        interaction = self._take(request.method, received.path)
        if interaction is None:
            self.unexpected.append(received)
            message = f"replay: no recorded answer left for {request.method} {request.path}"
            return web.json_response({"error": {"message": message, "type": "replay_error"}}, status=404)
        response = interaction.response
        if response.streamed:
            return await self._stream(request, interaction)
        return web.Response(status=response.status, body=response.body, headers=dict(response.headers))

    def _take(self, method: str, path: str) -> Interaction | None:
        for i, interaction in enumerate(self._pending):
            if interaction.request.method.upper() == method.upper() and interaction.request.path == path:
                return self._pending.pop(i)
        return None

    async def _stream(self, request: web.Request, interaction: Interaction) -> web.StreamResponse:
        recorded = interaction.response
        response = web.StreamResponse(status=recorded.status, headers=dict(recorded.headers))
        await response.prepare(request)
        body = recorded.body
        size = -(-len(body) // self._sse_pieces)  # ceiling division: at most sse_pieces writes
        for start in range(0, len(body), max(size, 1)):
            await response.write(body[start : start + size])
            await asyncio.sleep(0)  # give the client a chance to read each piece on its own
        await response.write_eof()
        return response


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


@asynccontextmanager
async def replay_upstream(
    interactions: Iterable[Interaction], *, sse_pieces: int = 3
) -> AsyncIterator[ReplayServer]:
    """Serve ``interactions`` on a free loopback port for the duration of the block."""
    server = ReplayServer(interactions, sse_pieces)
    async with loopback_server(server.handle) as base_url:
        server.base_url = base_url
        yield server


@asynccontextmanager
async def loopback_server(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """``handle`` answering every request on a free loopback port; its base URL for the block."""
    async with serve(handle) as base_url:
        yield base_url
