"""Writing usage rows in bulk: the one insert every request ends in, so it is kept cheap.

On SQLite the rows go to the driver as plain tuples in the exact form SQLAlchemy would store them
(UTC timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text, booleans as 0/1): building SQLAlchemy's bound
parameters cost about a third more per row, on the service's own core (SQLite runs in-process). Other
databases take the ordinary Core insert; their work happens in their own server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from api_connector.storage.models import UsageRow

# The columns written, in order; the id is the database's.
USAGE_COLUMNS = (
    "request_id",
    "project_id",
    "key_id",
    "provider",
    "model",
    "capability",
    "status",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "latency_ms",
    "created_at",
    "cached",
    "coalesced",
)
_SQLITE_INSERT = (
    f"INSERT INTO {UsageRow.__tablename__} ({', '.join(USAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in USAGE_COLUMNS)})"
)


def sqlite_timestamp(value: datetime) -> str:
    """An aware datetime as SQLAlchemy's SQLite dialect stores it (UTC, naive, microseconds)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
    values = [row[name] for name in USAGE_COLUMNS]
    values[13] = sqlite_timestamp(row["created_at"])
    values[14] = int(bool(row["cached"]))
    values[15] = int(bool(row["coalesced"]))
    return tuple(values)


async def insert_usage(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert usage rows (dicts keyed by column name) in one statement."""
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql(_SQLITE_INSERT, [_sqlite_tuple(row) for row in rows])
    else:
        await connection.execute(insert(UsageRow), list(rows))
