"""The database handle: one async engine, its sessions, and migrations.

SQLite (``sqlite+aiosqlite:///path``) is the zero-configuration default; PostgreSQL
(``postgresql+asyncpg://...``) is what N replicas share. Everything above this module is written
against SQLAlchemy Core/ORM and runs unchanged on both.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from api_connector.errors import StorageUnavailable
from api_connector.storage.migrations import MIGRATIONS_DIR, VERSION_TABLE

if TYPE_CHECKING:
    from api_connector.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

# How long a SQLite writer waits for another writer's lock before failing, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 5_000
# SQLite page cache per connection, in KiB (SQLite's default is 2,000).
SQLITE_CACHE_KIB = 512
# Any constant works; it only has to be the same in every replica so that two of them starting at once
# do not both try to create the tables.
_MIGRATION_LOCK_ID = 0x61706331  # "apc1"


def _null(value: None) -> None:
    return None


# The sqlite3 driver binds int, float, str and bytes as they are but looks every other value up in its
# adapter registry, and a miss there raises (and formats) an AttributeError inside the driver: about a
# microsecond and a half per NULL, and every request's usage and audit rows carry several. Registered,
# None is found by one dict lookup and still bound as NULL. (No base type is adapted, so the driver's
# fast path for the others stays.)
sqlite3.register_adapter(type(None), _null)


class Database:
    """An async engine plus a session factory; ``migrate()`` brings the schema to the latest revision."""

    def __init__(
        self,
        url: str,
        *,
        max_open: int = 20,
        max_idle: int = 5,
        connect_args: Mapping[str, Any] | None = None,
        echo: bool = False,
    ) -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "connect_args": dict(connect_args or {})}
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:"):
                # One shared connection, or every session would see its own empty in-memory database.
                kwargs["poolclass"] = StaticPool
            else:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            # QueuePool keeps ``pool_size`` connections open when idle and opens up to ``max_overflow``
            # more under load; pool_size=0 would mean "unlimited", hence the floor of 1.
            pool_size = max(1, min(max_idle, max_open))
            kwargs.update(
                pool_size=pool_size,
                max_overflow=max(0, max_open - pool_size),
                pool_pre_ping=True,  # survive a PostgreSQL restart or a proxy closing idle connections
                pool_recycle=1800,
            )
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.resolved_database_url(),
            max_open=settings.postgres.max_open_connection,
            max_idle=settings.postgres.max_ideal_connection,
            connect_args=settings.postgres_connect_args(),
        )

    def session(self) -> AsyncSession:
        """A new session; use as ``async with db.session() as s, s.begin(): ...``."""
        return self._sessions()

    async def migrate(self) -> None:
        """Upgrade to the latest revision; a no-op when already there, safe from concurrent replicas."""
        async with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                # Held until this transaction commits; PostgreSQL DDL is transactional, so a second
                # replica waits here and then finds nothing left to do.
                await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            elif self.dialect == "sqlite":
                # Take SQLite's write lock before reading the version table: a second process (or
                # engine) waits up to the busy timeout and then finds the schema current.
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            await connection.run_sync(_upgrade, "head")

    async def downgrade(self, revision: str = "base") -> None:
        """Undo migrations down to ``revision`` (tests and operators recovering from a bad release)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_downgrade, revision)

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as connection:
            return await connection.run_sync(_current_revision)

    async def ping(self) -> None:
        """Readiness probe: raises ConnectorError when the database cannot answer."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise _storage_error(exc) from exc

    async def close(self) -> None:
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """Programmatic Alembic configuration (no alembic.ini): script location is the installed package."""
    config = Config()
    # ConfigParser interpolates "%": a path containing one must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers proceed while one writer commits; NORMAL sync is durable enough with WAL
        # (a power cut can lose the last transactions, never corrupt the file).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite
        # Page cache per connection (negative: KiB). Each pooled connection runs in its own aiosqlite
        # thread, so in its own glibc malloc arena; in WAL mode a connection drops its cache whenever
        # another one committed, and refilling SQLite's 2 MiB default there left several MiB of
        # fragmented free memory per arena (RSS climbing in steps under sustained load). The tables
        # here are written append-only and read through indexes, so a small cache costs nothing visible.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def _storage_error(exc: BaseException) -> StorageUnavailable:
    # The driver's message can quote SQL and bound parameters; keep it in the chained cause (server
    # logs) and tell the caller only which kind of failure it was.
    return StorageUnavailable("storage is unavailable", details={"storage_error": type(exc).__name__})


def translate_errors(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn driver/SQLAlchemy exceptions escaping a store method into ``ConnectorError`` (rule 5).

    Store methods catch the errors they expect (unique violations -> Conflict) themselves; whatever
    reaches this decorator is an outage or a bug, never the caller's fault.
    """

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await func(*args, **kwargs)
        except (SQLAlchemyError, OSError) as exc:
            raise _storage_error(exc) from exc

    return wrapper
