"""Storage fixtures: every test taking ``database`` runs on SQLite and on the real PostgreSQL.

PostgreSQL gets one fresh database per test session (``apc_test_<random>``, dropped at the end),
migrated once and truncated before each test. It is skipped, with the reason, only when the server
cannot be reached even after trying to start the local cluster. ``APC_TEST_PG_DSN`` points the tests
at another server (an admin DSN whose user may CREATE DATABASE).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy import text

from api_connector.storage.db import Database
from api_connector.storage.models import Base

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


async def _truncate_all(database: Database) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with database.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database: a SQLite file under tmp_path, or the session's PostgreSQL one."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'apc.db'}")
        await db.migrate()
    else:
        db = Database(request.getfixturevalue("postgres_url"), max_open=10, max_idle=2)
        await db.migrate()
        await _truncate_all(db)
    try:
        yield db
    finally:
        await db.close()
