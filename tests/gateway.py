"""A real api-connector server for tests: the full app on a free loopback port in its own thread.

Running it on a thread with its own event loop lets synchronous clients (the official ``openai`` SDK)
and asynchronous ones call it from the test alike, over real HTTP.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from api_connector.api.services import SERVICES, Services
from api_connector.app import create_app
from api_connector.config import parse_config
from api_connector.observability.logging import configure_logging
from api_connector.observability.redaction import Redactor
from api_connector.settings import load_settings

ADMIN_KEY = "ack_test_admin_key_0123456789abcdefghijklmnop"


class LogCapture(io.StringIO):
    """Every log line the server wrote, thread-safe enough for assertions after requests finish."""

    def lines(self) -> list[str]:
        return [line for line in self.getvalue().splitlines() if line.strip()]


@dataclass
class RunningGateway:
    base_url: str
    admin_key: str
    services: Services
    logs: LogCapture
    loop: asyncio.AbstractEventLoop
    _extra: dict[str, Any] = field(default_factory=dict)

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (for reading its services' state)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def run_gateway(tmp_path: Path, config: dict[str, Any] | None = None, **settings: Any) -> Iterator[RunningGateway]:
    overrides: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "api_connector_admin_key": ADMIN_KEY,
        "env": "test",
        "record_flush_interval": 0.05,
        "log_level": "INFO",
        # Providers are not asked for their model lists unless a test says so: recorded upstreams
        # answer only what was recorded.
        "model_list_ttl": 0,
    }
    overrides.update(settings)
    resolved = load_settings(**overrides)
    logs = LogCapture()
    redactor = Redactor()
    configure_logging(resolved.log_level, resolved.service_name, redactor, stream=logs)
    app = create_app(resolved, parse_config(config or {}), redactor=redactor, log_stream=logs)
    started = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server = runner.addresses[0]
        holder.update(loop=loop, runner=runner, port=server[1])
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="gateway", daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError("the gateway did not start")
    loop = holder["loop"]
    gateway = RunningGateway(f"http://127.0.0.1:{holder['port']}", ADMIN_KEY, app[SERVICES], logs, loop)
    try:
        yield gateway
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
