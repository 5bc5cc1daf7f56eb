"""Writing usage rows in bulk: the one insert every request ends in, so it is kept cheap.

On SQLite the rows go to the driver as plain tuples in the exact form SQLAlchemy would store them
(UTC timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text, booleans as 0/1): building SQLAlchemy's bound
parameters cost about a third more per row, on the service's own core (SQLite runs in-process). Other
databases take the ordinary Core insert; their work happens in their own server.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from api_connector.storage.models import UsageRow, UTCDateTime

# The text of each recent second ('YYYY-MM-DD HH:MM:SS.'), made once a second: formatting a whole
# timestamp per row cost several microseconds (keyword-argument parsing in ``replace`` and
# ``isoformat``). Several seconds are kept: a request audit row carries its expiry, days later, and a
# single remembered second would be replaced at every other value.
_SECOND_TEXTS: dict[int, str] = {}
_KEPT_SECONDS = 64


def sqlite_timestamp(value: datetime) -> str:
    """An aware datetime as SQLAlchemy's SQLite dialect stores it (UTC, naive, microseconds)."""
    # timestamp() is the exact microsecond count divided by 10**6, correctly rounded: its whole part is
    # the second itself (a float keeps microseconds apart until the year 2242).
    second = int(value.timestamp())
    text = _SECOND_TEXTS.get(second)
    if text is None:
        if len(_SECOND_TEXTS) >= _KEPT_SECONDS:
            _SECOND_TEXTS.clear()
        text = _SECOND_TEXTS[second] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S.")
    return f"{text}{value.microsecond:06d}"


def _sqlite_form(column: ColumnElement[Any]) -> Callable[[Any], Any] | None:
    """How a value of this column is stored on SQLite where SQLAlchemy would convert it (None: as is)."""
    # Booleans need nothing: the driver binds a bool as the integer 0 or 1, as SQLAlchemy stores it.
    if isinstance(column.type, UTCDateTime):
        return sqlite_timestamp
    return None


# The columns written, in order (read off the table, so they cannot drift from it); the id is the database's.
# A usage record has one attribute per column, of the same name.
_WRITTEN = [column for column in UsageRow.__table__.columns if not column.primary_key]
USAGE_COLUMNS = tuple(column.name for column in _WRITTEN)
_VALUES = operator.attrgetter(*USAGE_COLUMNS)
# Text that may come from callers (model names, request ids) is cut to its column's length, never refused.
_LIMITS = tuple(
    (index, column.type.length)
    for index, column in enumerate(_WRITTEN)
    if isinstance(column.type, String) and column.type.length
)
_SQLITE_FORMS = tuple(
    (index, form) for index, form in enumerate(_sqlite_form(column) for column in _WRITTEN) if form is not None
)
_SQLITE_INSERT = (
    f"INSERT INTO {UsageRow.__tablename__} ({', '.join(USAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in USAGE_COLUMNS)})"
)


_LIMITED = operator.attrgetter(*(USAGE_COLUMNS[index] for index, _ in _LIMITS))
_LIMIT_LENGTHS = tuple(limit for _, limit in _LIMITS)
assert min(_LIMIT_LENGTHS) >= len(str(None))  # the check below measures None as 'None'


def usage_values(record: Any) -> list[Any]:
    """A record's column values in column order, over-long text cut to its column's length."""
    values = list(_VALUES(record))
    # Every text within its length (nearly always): one pass in C, no Python loop per column.
    if all(map(operator.le, map(len, map(str, _LIMITED(record))), _LIMIT_LENGTHS)):
        return values
    for index, limit in _LIMITS:
        value = values[index]
        if value is not None and len(value) > limit:
            values[index] = value[:limit]
    return values


def usage_row(record: Any) -> dict[str, Any]:
    return _named(usage_values(record))


def _named(values: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(USAGE_COLUMNS, values, strict=True))


def _sqlite_values(values: list[Any]) -> tuple[Any, ...]:
    stored = values.copy()  # the caller's values stay as they were (the roll-up fold reads them too)
    for index, form in _SQLITE_FORMS:
        stored[index] = form(stored[index])
    return tuple(stored)  # the driver's executemany takes tuples


class SQLiteRows:
    """A table's INSERT on SQLite of rows given as value tuples in ``columns``' order: the values go to
    the driver in the form SQLAlchemy's binding would have stored them, without compiling and binding
    the Core insert each batch (that cost more than the insert itself)."""

    __slots__ = ("_forms", "columns", "sql")

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self.sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        forms = (_sqlite_form(table.columns[name]) for name in columns)
        self._forms = tuple((index, form) for index, form in enumerate(forms) if form is not None)

    def stored(self, values: Sequence[Any]) -> tuple[Any, ...]:
        stored = list(values)
        for index, form in self._forms:
            if stored[index] is not None:
                stored[index] = form(stored[index])
        return tuple(stored)


async def insert_usage(connection: AsyncConnection, records: Sequence[Any]) -> None:
    """Insert usage records (objects with one attribute per column) in one statement."""
    await insert_usage_values(connection, [usage_values(record) for record in records])


async def insert_usage_values(connection: AsyncConnection, rows: Sequence[list[Any]]) -> None:
    """Insert usage rows given as ``usage_values`` lists in one statement."""
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql(_SQLITE_INSERT, [_sqlite_values(values) for values in rows])
    else:
        await connection.execute(insert(UsageRow), [_named(values) for values in rows])
