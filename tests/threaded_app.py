"""An aiohttp app served on a free loopback port by a thread with its own event loop: fake upstreams that
synchronous clients and the gateway's own thread can both reach."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web


@contextmanager
def threaded_app(setup: Callable[[web.Application], None], client_max_size: int = 1024**2) -> Iterator[str]:
    """Serve the app ``setup`` adds routes to for the duration of the block; yields its base URL."""
    started = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()

        async def main() -> None:
            app = web.Application(client_max_size=client_max_size)
            setup(app)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            holder["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
            holder["stop"] = asyncio.Event()
            started.set()
            await holder["stop"].wait()
            await runner.cleanup()

        holder["loop"] = loop
        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=serve, name="threaded-app", daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield holder["url"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
