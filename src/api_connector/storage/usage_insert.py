"""Writing usage rows in bulk: the one insert every request ends in, so it is kept cheap.

On SQLite the rows go to the driver as plain tuples in the exact form SQLAlchemy would store them
(UTC timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text, booleans as 0/1): building SQLAlchemy's bound
parameters cost about a third more per row, on the service's own core (SQLite runs in-process). Other
databases take the ordinary Core insert; their work happens in their own server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, ColumnElement, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from api_connector.storage.models import UsageRow, UTCDateTime


def sqlite_timestamp(value: datetime) -> str:
    """An aware datetime as SQLAlchemy's SQLite dialect stores it (UTC, naive, microseconds)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_form(column: ColumnElement[Any]) -> Callable[[Any], Any] | None:
    """How a value of this column is stored on SQLite where SQLAlchemy would convert it (None: as is)."""
    if isinstance(column.type, UTCDateTime):
        return sqlite_timestamp
    if isinstance(column.type, Boolean):
        return lambda flag: int(bool(flag))
    return None


# The columns written, in order (read off the table, so they cannot drift from it); the id is the database's.
_WRITTEN = [column for column in UsageRow.__table__.columns if not column.primary_key]
USAGE_COLUMNS = tuple(column.name for column in _WRITTEN)
_SQLITE_FORMS = tuple(_sqlite_form(column) for column in _WRITTEN)
_SQLITE_INSERT = (
    f"INSERT INTO {UsageRow.__tablename__} ({', '.join(USAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in USAGE_COLUMNS)})"
)


def _sqlite_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        row[name] if form is None else form(row[name]) for name, form in zip(USAGE_COLUMNS, _SQLITE_FORMS, strict=True)
    )


async def insert_usage(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert usage rows (dicts keyed by column name) in one statement."""
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql(_SQLITE_INSERT, [_sqlite_tuple(row) for row in rows])
    else:
        await connection.execute(insert(UsageRow), list(rows))
