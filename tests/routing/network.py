"""Real sockets for the routing tests: the sandbox as an HTTP server, mitmproxy in front of it, and
``api-connector serve`` processes. Each is bounded in time and stopped when its block ends.

mitmproxy pins versions of its own dependencies that the project's environment cannot share, so it
lives in a virtual environment of its own: ``MITMDUMP`` names the executable, else
``.venv/tools-mitmproxy/bin/mitmdump`` (what ``scripts/test.sh`` installs), else ``mitmdump`` on PATH.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_connector.sandbox.server import SandboxServer, serve_sandbox

ROOT = Path(__file__).resolve().parents[2]
ADDON = Path(__file__).with_name("chaos_addon.py")
CLI = str(Path(sys.executable).with_name("api-connector"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text(errors='replace')[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds}s:\n{log.read_text(errors='replace')[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class RunningSandbox:
    server: SandboxServer
    base_url: str

    @property
    def requests(self) -> int:
        return self.server.requests


@contextmanager
def sandbox_server() -> Iterator[RunningSandbox]:
    """The sandbox HTTP server on a free loopback port, on a thread with its own event loop."""
    started = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()

        async def main() -> None:
            async with serve_sandbox() as (server, base_url):
                holder.update(server=server, base_url=base_url, stop=asyncio.Event())
                started.set()
                await holder["stop"].wait()

        holder["loop"] = loop
        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=serve, name="sandbox-server", daemon=True)
    thread.start()
    assert started.wait(10), "the sandbox server did not start"
    try:
        yield RunningSandbox(holder["server"], holder["base_url"])
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


def mitmdump_path() -> str:
    candidates = [os.environ.get("MITMDUMP"), str(ROOT / ".venv" / "tools-mitmproxy" / "bin" / "mitmdump")]
    candidates.append(shutil.which("mitmdump"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("mitmdump not installed (scripts/test.sh installs it into .venv/tools-mitmproxy)")


@dataclass
class RunningProxy:
    base_url: str
    log: Path

    def seen(self, header: str) -> int:
        """Requests that went through the proxy with this ``x-chaos`` header."""
        if not self.log.exists():
            return 0
        return sum(1 for line in self.log.read_text().splitlines() if line == header)


@contextmanager
def chaos_proxy(upstream: str, workdir: Path) -> Iterator[RunningProxy]:
    """mitmdump in reverse mode in front of ``upstream``, with the chaos addon, on a free port."""
    port = free_port()
    log = workdir / f"mitm-{port}.log"
    requests_log = workdir / f"mitm-{port}.requests"
    command = [
        mitmdump_path(),
        "--mode",
        f"reverse:{upstream}",
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        str(port),
        "-s",
        str(ADDON),
        "--set",
        f"chaos_log={requests_log}",
        "--set",
        f"confdir={workdir / 'mitm-conf'}",
        "-q",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, log)
        yield RunningProxy(f"http://127.0.0.1:{port}", requests_log)
    finally:
        stop(proc)


def service_env(workdir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES__", "REDIS", "DATABASE_URL", "API_CONNECTOR_", "MAX_IN_FLIGHT"))
    }
    # Providers are not asked for their model lists: tests count what upstreams receive.
    env.update(DATA_DIR=str(workdir / "data"), HOST="127.0.0.1", PORT=str(port), LOG_LEVEL="WARNING")
    env.setdefault("MODEL_LIST_TTL", "0")
    env.update(extra)
    return env


@contextmanager
def service(workdir: Path, name: str, **env: str) -> Iterator[str]:
    """``api-connector serve`` as a subprocess on a free port; yields its base URL."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([CLI, "serve"], env=service_env(workdir, port, **env), stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield base
    finally:
        stop(proc)
