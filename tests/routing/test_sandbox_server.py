"""``api-connector sandbox``: the sandbox as a standalone HTTP server, faults included, over real sockets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from tests.routing.network import CLI, free_port, stop, wait_for_port


def test_sandbox_command_serves_chat_faults_and_stats(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "sandbox.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([CLI, "sandbox", "--port", str(port)], stdout=out, stderr=out)
    try:
        wait_for_port(port, proc, log)
        base = f"http://127.0.0.1:{port}"
        body = {"model": "sandbox-chat", "messages": [{"role": "user", "content": "over the wire"}]}
        answer = httpx.post(base + "/v1/chat/completions", json=body, timeout=10)
        assert answer.json()["choices"][0]["message"]["content"] == "sandbox echo: over the wire"
        limited = httpx.post(
            base + "/v1/chat/completions",
            json=body,
            headers={"x-sandbox-status": "429", "x-sandbox-retry-after": "3"},
            timeout=10,
        )
        assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
        try:
            httpx.post(base + "/v1/chat/completions", json=body, headers={"x-sandbox-fault": "disconnect"}, timeout=10)
            raise AssertionError("the connection should have been dropped")
        except httpx.RemoteProtocolError:
            pass
        with httpx.stream(
            "POST",
            base + "/v1/chat/completions",
            json={**body, "stream": True},
            headers={"x-sandbox-fault": "truncate"},
            timeout=10,
        ) as cut:
            try:
                lines = list(cut.iter_lines())
            except (httpx.RemoteProtocolError, httpx.ReadError):
                lines = []
        assert "data: [DONE]" not in lines  # cut half way, at the socket
        assert httpx.get(base + "/sandbox/stats", timeout=10).json() == {"requests": 4}
    finally:
        stop(proc)
