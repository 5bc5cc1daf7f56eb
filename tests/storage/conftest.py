"""Storage fixtures: every test taking ``database`` runs on SQLite and on the real PostgreSQL.

PostgreSQL gets one fresh database per test session (``apc_test_<random>``, dropped at the end),
migrated once and truncated before each test. It is skipped, with the reason, only when the server
cannot be reached even after trying to start the local cluster. ``APC_TEST_PG_DSN`` points the tests
at another server (an admin DSN whose user may CREATE DATABASE).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from api_connector.storage.db import Database
from api_connector.storage.models import Base


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
