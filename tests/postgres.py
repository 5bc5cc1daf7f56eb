"""The session's PostgreSQL database for tests that use the real server (storage, gateway, writer).

One fresh database per test session (``apc_test_<random>``, dropped at the end). Skipped, with the
reason, only when the server cannot be reached even after trying to start the local cluster.
``APC_TEST_PG_DSN`` points the tests at another server (an admin DSN whose user may CREATE DATABASE).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

ADMIN_DSN = os.environ.get("APC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
T = TypeVar("T")


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    # On a thread of its own: session fixtures may be set up while a test's event loop is running.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _admin_execute(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _try_start_cluster() -> str:
    try:
        versions = sorted(os.listdir("/etc/postgresql"))
    except OSError as exc:
        return f"no local cluster to start ({exc})"
    outputs = []
    for version in versions:
        result = subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        outputs.append(f"{version}: rc={result.returncode} {result.stderr.strip()[:200]}")
    return "; ".join(outputs)


def _create_database(name: str) -> str | None:
    """Create the test database; the reason it could not be created, or None."""
    try:
        _run_async(_admin_execute(f'CREATE DATABASE "{name}"'))
        return None
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        first_error = f"{type(exc).__name__}: {exc}"
    started = _try_start_cluster()
    for _ in range(20):
        try:
            _run_async(_admin_execute(f'CREATE DATABASE "{name}"'))
            return None
        except (OSError, asyncpg.PostgresError, TimeoutError):
            time.sleep(0.5)
    return f"PostgreSQL unreachable at {ADMIN_DSN} ({first_error}); tried to start it: {started}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database for this test session."""
    name = f"apc_test_{secrets.token_hex(6)}"
    problem = _create_database(name)
    if problem is not None:
        pytest.skip(problem)
    parts = urlsplit(ADMIN_DSN)
    yield urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", "", ""))
    _run_async(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


