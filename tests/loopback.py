"""An aiohttp application served on a free loopback port, for the little upstreams tests stand up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(app: web.Application | Handler) -> AsyncIterator[str]:
    """Serve ``app`` (or one handler for every method and path) for the duration of the block; yields its
    base URL (``http://127.0.0.1:<port>``)."""
    if not isinstance(app, web.Application):
        handler, app = app, web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
