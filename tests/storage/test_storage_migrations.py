"""Schema: migrations are idempotent, match the models, and the engine is set up per backend."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from api_connector.settings import load_settings
from api_connector.storage.db import Database, alembic_config
from api_connector.storage.migrations import MIGRATIONS_DIR, VERSION_TABLE
from api_connector.storage.models import Base

TABLES = {
    "organizations",
    "projects",
    "gateway_keys",
    "provider_instances",
    "usage_records",
    "audit_events",
    "master_keys",
    "credentials",
    "credential_versions",
    "routes",
    "dead_letters",
    "stored_responses",
    "request_audits",
}
HEAD = "0009_request_audits"


async def test_migrate_from_scratch_is_idempotent(database: Database) -> None:
    await database.downgrade("base")
    assert await database.current_revision() is None
    await database.migrate()
    await database.migrate()
    assert await database.current_revision() == HEAD
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert TABLES | {VERSION_TABLE} <= names


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE, "compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_models_match_the_migrations(database: Database) -> None:
    async with database.engine.connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == []


async def test_concurrent_migrations_do_not_collide(database: Database) -> None:
    import asyncio

    await database.downgrade("base")
    other = Database(database.url)
    try:
        await asyncio.gather(database.migrate(), other.migrate())
    finally:
        await other.close()
    assert await database.current_revision() == HEAD


def test_script_location_is_the_package_directory() -> None:
    config = alembic_config()
    assert Path(config.get_main_option("script_location") or "") == MIGRATIONS_DIR
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()


async def test_sqlite_file_gets_parent_directory_wal_and_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'deeper' / 'apc.db'}")
    try:
        await db.migrate()
        async with db.engine.connect() as connection:
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
            cache = (await connection.execute(text("PRAGMA cache_size"))).scalar()
        assert journal == "wal"
        assert busy == 5000
        assert foreign_keys == 1
        assert cache == -512  # KiB: a small page cache per pooled connection keeps RSS flat under load
        assert (tmp_path / "nested" / "deeper" / "apc.db").is_file()
    finally:
        await db.close()


async def test_in_memory_sqlite_is_one_shared_database() -> None:
    db = Database("sqlite+aiosqlite://")
    try:
        await db.migrate()
        await db.ping()
        assert await db.current_revision() == HEAD
    finally:
        await db.close()


async def test_from_settings_defaults_to_a_sqlite_file(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "state")
    db = Database.from_settings(settings)
    try:
        assert db.dialect == "sqlite"
        await db.migrate()
        assert (tmp_path / "state" / "api-connector.db").is_file()
    finally:
        await db.close()


async def test_from_settings_postgres_pool_sizes() -> None:
    settings = load_settings(
        postgres={"host": "127.0.0.1", "db_name": "x", "max_open_connection": 7, "max_ideal_connection": 3}
    )
    db = Database.from_settings(settings)
    try:
        assert db.dialect == "postgresql"
        pool = db.engine.sync_engine.pool
        assert pool.size() == 3  # type: ignore[attr-defined]
        assert pool._max_overflow == 4  # type: ignore[attr-defined]
    finally:
        await db.close()
