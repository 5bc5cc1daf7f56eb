"""The command line as a new user runs it: serve on the embedded default, the printed key, migrate, keys."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).with_name("api-connector"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES__", "REDIS", "DATABASE_URL", "API_CONNECTOR_"))
    }
    env.update(DATA_DIR=str(tmp_path / "data"), HOST="127.0.0.1", LOG_LEVEL="WARNING", **extra)
    return env


@contextmanager
def serving(tmp_path: Path, port: int, log: Path, **extra: str) -> Iterator[str]:
    with log.open("w") as out:
        proc = subprocess.Popen(
            [CLI, "serve", "--port", str(port)], env=_env(tmp_path, **extra), stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a loaded machine two workers importing and migrating at once take a while.
        deadline = time.monotonic() + 90
        ready = False
        while not ready and time.monotonic() < deadline:
            try:
                ready = httpx.get(base + "/health", timeout=1).status_code == 200
            except httpx.TransportError:
                time.sleep(0.1)
            assert proc.poll() is None, log.read_text()
        assert ready, f"the service did not come up: {log.read_text()}"
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_first_start_prints_an_admin_key_once_and_curl_works(tmp_path: Path) -> None:
    port = _free_port()
    first_log = tmp_path / "first.log"
    with serving(tmp_path, port, first_log) as base:
        printed = re.search(r"generated admin key \S+ \(shown once, store it now\): (ack_\S+)", first_log.read_text())
        assert printed, first_log.read_text()
        key = printed.group(1)
        # The README's curl, as a user types it.
        assert shutil.which("curl")
        out = subprocess.run(
            [
                "curl",
                "-s",
                f"{base}/v1/chat/completions",
                "-H",
                f"Authorization: Bearer {key}",
                "-H",
                "Content-Type: application/json",
                "-d",
                '{"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "Hello!"}]}',
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert '"content":"sandbox echo: Hello!"' in out.stdout
        assert httpx.get(base + "/ready").json()["status"] == "ready"
    assert (tmp_path / "data" / "api-connector.db").exists()
    second_log = tmp_path / "second.log"
    with serving(tmp_path, port, second_log) as base:
        assert "generated admin key" not in second_log.read_text()
        assert httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_bad_setting_stops_start_up_with_one_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [CLI, "serve"], env=_env(tmp_path, PORT="70000"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "PORT" in result.stderr and "Traceback" not in result.stderr


def test_bad_config_file_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("providers:\n  x: {type: openai, credential: sk-pasted-secret-123456}\n")
    result = subprocess.run(
        [CLI, "serve", "--port", str(_free_port())],
        env=_env(tmp_path, API_CONNECTOR_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "must be a reference" in result.stderr and "sk-pasted-secret-123456" not in result.stderr


def test_migrate_and_keys(tmp_path: Path) -> None:
    env = _env(tmp_path)
    migrated = subprocess.run([CLI, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert migrated.returncode == 0 and "revision" in migrated.stderr
    created = subprocess.run(
        [CLI, "keys", "create", "ci", "--scope", "inference"], env=env, capture_output=True, text=True, timeout=60
    )
    assert created.returncode == 0, created.stderr
    plaintext = created.stdout.strip()
    assert plaintext.startswith("ack_")
    listed = subprocess.run([CLI, "keys", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert "ci" in listed.stdout and plaintext not in listed.stdout
    key_id = re.search(r"created (key_\w+)", created.stderr).group(1)  # type: ignore[union-attr]
    revoked = subprocess.run([CLI, "keys", "revoke", key_id], env=env, capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0 and "revoked" in revoked.stderr


def test_two_workers_share_the_port(tmp_path: Path) -> None:
    port = _free_port()
    key = "ack_two_workers_key_0123456789abcdefghij"
    with serving(tmp_path, port, tmp_path / "workers.log", WORKERS="2", API_CONNECTOR_ADMIN_KEY=key) as base:
        chat = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "hi"}]}
        statuses = set()
        for _ in range(20):
            # A new connection each time so the kernel can hand it to either worker.
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
                statuses.add(client.post(base + "/v1/chat/completions", json=chat).status_code)
        assert statuses == {200}
