"""The sandbox as a standalone HTTP server: the same engine as the built-in ``sandbox`` provider, on a port.

Point an ``openai_compatible`` provider instance at ``http://HOST:PORT/v1`` and it answers like the
in-process sandbox, fault controls included (``x-sandbox-*`` headers, sent by the caller or set as the
instance's static ``headers``), but over a real socket: a ``disconnect`` or ``truncate`` fault closes
the connection. That is what chaos tests put a network proxy in front of. ``GET /sandbox/stats``
answers how many requests it has served, for tests that must prove a call did not happen.

    api-connector sandbox --port 9100
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from api_connector.sandbox.engine import SandboxEngine
from api_connector.transport.local import LocalDisconnect

STATS_PATH = "/sandbox/stats"


class SandboxServer:
    def __init__(self, engine: SandboxEngine | None = None) -> None:
        self.engine = engine or SandboxEngine()
        self.requests = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == STATS_PATH:
            return web.json_response({"requests": self.requests})
        self.requests += 1
        body = await request.read()
        try:
            answer = await self.engine.handle(request.method, request.path, request.headers, body)
        except LocalDisconnect:
            _drop(request)
            raise ConnectionResetError("sandbox dropped the connection") from None
        if answer.lines is None:
            return web.Response(status=answer.status, body=answer.body, headers=answer.headers)
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        await response.prepare(request)
        try:
            async for line in answer.lines:
                await response.write(line)
        except LocalDisconnect:
            _drop(request)  # mid-body: the client sees the connection end without the last chunk
            return response
        await response.write_eof()
        return response

    def app(self) -> web.Application:
        application = web.Application(client_max_size=64 * 1024 * 1024)
        application.router.add_route("*", "/{tail:.*}", self.handle)
        return application


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


@contextlib.asynccontextmanager
async def serve_sandbox(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[tuple[SandboxServer, str]]:
    """Run a sandbox server on this event loop for the duration of the block: (server, base URL)."""
    server = SandboxServer()
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    try:
        yield server, f"http://{bound_host}:{bound_port}"
    finally:
        await runner.cleanup()


def run(host: str, port: int) -> None:
    """Serve until interrupted (the ``api-connector sandbox`` command)."""
    web.run_app(SandboxServer().app(), host=host, port=port, print=None, access_log=None)
