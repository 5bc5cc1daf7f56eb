"""Nothing lost: PostgreSQL is stopped for 20 seconds while requests keep coming, then restarted;
every request's usage record reaches the database (the batch writer keeps them and retries).
The server is restarted in a ``finally`` even when the test fails."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.gateway import run_gateway
from tests.postgres import _run_async

OUTAGE_SECONDS = 20.0
LOCK = "/tmp/apc-test-postgres-outage.lock"


def _cluster(action: str) -> None:
    for version in sorted(os.listdir("/etc/postgresql")):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
            check=True,
            capture_output=True,
            timeout=60,
        )


def _wait_for_postgres(dsn: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _run_async(_count(dsn, []))
            return
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


async def _count(dsn: str, request_ids: list[str]) -> int:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(DISTINCT request_id) FROM usage_records WHERE request_id = ANY($1::text[])", request_ids
            )
        )
    finally:
        await connection.close()


def test_usage_survives_a_postgres_outage_under_load(tmp_path: Path, postgres_url: str) -> None:
    if not os.path.isdir("/etc/postgresql"):
        pytest.skip("no local PostgreSQL cluster to stop")
    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    body = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "during the outage"}]}
    ids: list[str] = []
    # Keys stay cached for the whole outage: this test is about the records, not authentication.
    with run_gateway(tmp_path, database_url=postgres_url, key_cache_ttl=600) as gateway:
        with httpx.Client(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as client:

            def burst(seconds: float) -> None:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    answer = client.post("/v1/chat/completions", json=body)
                    assert answer.status_code == 200, answer.text
                    ids.append(answer.headers["x-request-id"])
                    time.sleep(0.01)

            burst(2)
            # Serialised across test runs on this machine: two outages overlapping would fail both.
            with open(LOCK, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    _cluster("stop")
                    burst(OUTAGE_SECONDS)
                finally:
                    _cluster("start")
                _wait_for_postgres(dsn)
            burst(2)
            during = len(ids)
            deadline = time.monotonic() + 90  # the writer's backoff is at most 30 s
            while (arrived := _run_async(_count(dsn, ids))) < during and time.monotonic() < deadline:
                time.sleep(1)
        print(f"requests={during} usage records arrived={arrived} spilled={gateway.services.writer.spilled}")
        assert arrived == during and gateway.services.writer.spilled == 0
