"""Folding usage rows into the roll-ups: the watermark, the batch writer's fold, the SQL catch-up.

The invariant: every usage row whose id is at or below the watermark (``rollup_watermarks``, name
``usage``) is in both roll-up tables (``usage_rollups`` per minute, ``usage_rollups_hourly`` per hour)
exactly once; no row above it is in them. Whoever moves the watermark from ``last`` to ``top`` adds the
rows in (last, top] to both tables in the same transaction, so a transaction that fails adds nothing and
moves nothing, and the batch writer's retry of it starts from where it was.

Two ways move the watermark:

* The batch writer, in the transaction that inserts a batch of usage rows (``insert_usage_folded``). When
  every row before the batch is already folded, it adds the batch's sums, made in Python from the values
  it stores (``rollup_delta``: one upsert per distinct key and table), and moves the watermark to the
  batch's last id. This is the steady state: the database never reads a usage row back.
* The SQL fold: INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE over (last, top], for rows no
  writer folded (written before writers folded, during an upgrade; inserted directly, as migrations and
  tests do). The writer runs it over the whole unfolded range, its own rows included, when its batch does
  not follow the watermark; ``fold_backlog`` (the roll-up job, and every roll-up query first) runs it in
  batches, after a range check that finds nothing to do in the steady state.

Ordering, so that two folders never add the same rows:

* SQLite serialises write transactions. The writer's first statement is an insert, so its transaction
  holds the write lock, and sees every committed row, before it reads the watermark. Ids are the table's
  INTEGER PRIMARY KEY, each the highest so far plus one, so under the lock a batch of n rows has the ids
  (max - n, max]: it follows the watermark exactly when the watermark is max - n (one UPDATE checks that
  and moves it). ``fold_backlog`` takes the write lock (BEGIN IMMEDIATE) before it reads the watermark.
* PostgreSQL: every folder first locks the watermark row (SELECT ... FOR UPDATE), so the writers and
  catch-ups of all replicas fold one at a time. A writer draws its ids from the sequence after taking the
  lock, so they are all above the watermark: when exactly n rows are visible past it after the insert,
  they are the batch. Otherwise the SQL fold takes the whole range. (A writer that inserts without the
  lock, a replica of a version from before writers folded, can commit rows below ids already folded:
  those rows never enter the roll-ups, as with the SQL fold alone.)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api_connector.storage.models import METERED, UsageRow
from api_connector.storage.rollup_delta import Key, Sums, hour_sums, key_time, minute_sums
from api_connector.storage.rollup_models import (
    ROLLUP_KEYS,
    ROLLUP_PEAKS,
    ROLLUP_SUMS,
    RollupWatermarkRow,
    UsageRollupHourRow,
    UsageRollupRow,
)
from api_connector.storage.usage_insert import insert_usage_values, sqlite_timestamp, usage_values

WATERMARK = "usage"
# Rows one catch-up transaction folds at most: a backlog of millions is folded in steps.
CATCH_UP_BATCH = 20_000
RollupTable = type[UsageRollupRow] | type[UsageRollupHourRow]
# Each roll-up table, the name of its time column and that time's length in seconds.
_TABLES: tuple[tuple[RollupTable, str, int], ...] = ((UsageRollupRow, "minute", 60), (UsageRollupHourRow, "hour", 3600))

_WATERMARKS = RollupWatermarkRow.__tablename__
_USAGE = UsageRow.__tablename__
# The writer's check and move of the watermark on SQLite, in one statement: it moves by the batch's size
# only if the batch follows it, its ids (max - n, max]. Driver SQL: this runs with every batch.
_SQLITE_ADVANCE = (
    f"UPDATE {_WATERMARKS} SET last_id = last_id + ? "
    f"WHERE name = ? AND last_id + ? = (SELECT max(id) FROM {_USAGE})"
)


async def insert_usage_folded(connection: AsyncConnection, records: Sequence[Any]) -> None:
    """Insert usage records and fold them into the roll-ups, in the caller's transaction."""
    if not records:
        return
    rows = [usage_values(record) for record in records]
    minutes = minute_sums(rows)  # before the first statement: on SQLite no lock is held yet
    postgres = connection.dialect.name == "postgresql"
    statements = _statements(postgres)
    if postgres:
        await _claim(connection, statements)
        await insert_usage_values(connection, rows)
        moved = await connection.execute(statements.advance, {"rows": len(rows)})
    else:
        await insert_usage_values(connection, rows)
        moved = await connection.exec_driver_sql(_SQLITE_ADVANCE, (len(rows), WATERMARK, len(rows)))
    if moved.rowcount == 1:  # the batch followed the watermark, which is now its last id
        await _add(connection, statements, minutes)
        return
    found, top = (await connection.execute(statements.range)).one()
    if found is None and top == len(rows):  # SQLite's first batch of all, before the watermark's row exists
        await connection.execute(statements.set, {"top": top})
        await _add(connection, statements, minutes)
    else:
        await _fold_sql(connection, statements, found or 0, top)


async def fold_backlog(engine: AsyncEngine) -> int:
    """Fold up to ``CATCH_UP_BATCH`` rows past the watermark with the SQL fold; how many it folded."""
    postgres = engine.dialect.name == "postgresql"
    statements = _statements(postgres)
    async with engine.connect() as connection:
        last, top = (await connection.execute(statements.range)).one()
    if top is None or top <= (last or 0):
        return 0  # the steady state: the writers folded every row
    async with engine.begin() as connection:
        if not postgres:
            await connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock before the watermark
        last = await _claim(connection, statements)
        count, upper = (await connection.execute(statements.backlog, {"last": last})).one()
        if not count:
            return 0
        await _fold_sql(connection, statements, last, upper)
        return int(count)


async def _claim(connection: AsyncConnection, statements: _Statements) -> int:
    """The watermark, its row locked until the transaction ends on PostgreSQL; made at 0 the first time."""
    last = (await connection.execute(statements.claim)).scalar_one_or_none()
    if last is None:
        await connection.execute(statements.create)
        last = (await connection.execute(statements.claim)).scalar_one()
    return int(last)


async def _fold_sql(connection: AsyncConnection, statements: _Statements, last: int, top: int) -> None:
    """Fold the rows in (last, top] with the SQL fold and move the watermark to ``top``."""
    if top <= last:
        return  # nothing past the watermark (ids are never reused while the rows above them exist)
    for fold in statements.folds:
        await connection.execute(fold, {"last": last, "upper": top})
    await connection.execute(statements.set, {"top": top})


async def _add(connection: AsyncConnection, statements: _Statements, minutes: dict[Key, Sums]) -> None:
    """Add sums made in Python to both tables."""
    for upsert, sums in zip(statements.upserts, (minutes, hour_sums(minutes)), strict=True):
        await upsert.run(connection, sums)


class _Upsert:
    """One table's upsert of sums made in Python, one row per key. On SQLite as driver SQL with value
    tuples (compiling and binding the Core statement every batch would cost more than the upsert itself);
    elsewhere the Core statement, whose work happens in the database's own server."""

    def __init__(self, table: RollupTable, at: str, unit_seconds: int, postgres: bool) -> None:
        self._unit = unit_seconds
        self._postgres = postgres
        # In ``Key`` order, then the sums.
        self._columns = (at, *ROLLUP_KEYS, *ROLLUP_SUMS)
        dialect = postgresql if postgres else sqlite
        stmt = dialect.insert(table.__table__).values({name: bindparam(name) for name in self._columns})
        self.statement = _on_conflict(stmt, table, at, postgres)
        self._sql = ""
        if not postgres:
            compiled = self.statement.compile(dialect=sqlite.dialect())
            assert tuple(compiled.positiontup or ()) == self._columns  # the order of the value tuples
            self._sql = str(compiled)

    async def run(self, connection: AsyncConnection, sums: dict[Key, Sums]) -> None:
        unit = self._unit
        if self._postgres:
            rows = [
                dict(zip(self._columns, (key_time(key, unit), *key[1], *values), strict=True))
                for key, values in sums.items()
            ]
            await connection.execute(self.statement, rows)
        else:
            # The time as SQLite stores it (the SQL fold writes the same text).
            stored = [(sqlite_timestamp(key_time(key, unit)), *key[1], *values) for key, values in sums.items()]
            await connection.exec_driver_sql(self._sql, stored)


class _Statements:
    """Every statement of the fold on one backend, built once: they never change."""

    def __init__(self, postgres: bool) -> None:
        dialect = postgresql if postgres else sqlite
        mark = RollupWatermarkRow
        mine = mark.name == WATERMARK
        # The watermark (None: no row yet) and the highest usage id, in one round trip.
        self.range = select(
            select(mark.last_id).where(mine).scalar_subquery(), select(func.max(UsageRow.id)).scalar_subquery()
        )
        watermark = select(mark.last_id).where(mine)
        self.claim = watermark.with_for_update() if postgres else watermark
        self.create = dialect.insert(mark).values(name=WATERMARK, last_id=0).on_conflict_do_nothing()
        setting = dialect.insert(mark).values(name=WATERMARK, last_id=bindparam("top"))
        self.set = setting.on_conflict_do_update(index_elements=["name"], set_={"last_id": setting.excluded.last_id})
        past = UsageRow.id > bindparam("last")
        # The writer's check and move of the watermark on PostgreSQL (its row locked): to the highest id if
        # exactly the batch's rows are past it. Sequence numbers have gaps (rolled back inserts), so this
        # counts the rows where SQLite's version (_SQLITE_ADVANCE) subtracts ids.
        behind = select(func.count()).where(UsageRow.id > mark.last_id).scalar_subquery()
        top = select(func.max(UsageRow.id)).scalar_subquery()
        self.advance = update(mark).where(mine, behind == bindparam("rows")).values(last_id=top)
        batch = select(UsageRow.id).where(past).order_by(UsageRow.id).limit(CATCH_UP_BATCH).subquery()
        self.backlog = select(func.count(), func.max(batch.c.id))
        self.folds = tuple(_sql_fold(table, at, postgres) for table, at, _ in _TABLES)
        self.upserts = tuple(_Upsert(table, at, unit, postgres) for table, at, unit in _TABLES)


@cache
def _statements(postgres: bool) -> _Statements:
    return _Statements(postgres)


def _truncate(unit: str, postgres: bool) -> Any:
    """``created_at`` cut to the minute or hour, as each backend stores the roll-up's timestamp."""
    if postgres:
        return func.date_trunc(unit, UsageRow.created_at, "UTC")
    # SQLite keeps UTC timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
    keep, rest = (16, ":00.000000") if unit == "minute" else (13, ":00:00.000000")
    return func.substr(UsageRow.created_at, 1, keep).concat(rest)


def _sql_fold(table: RollupTable, at: str, postgres: bool) -> Any:
    """The usage rows in (last, upper] added to one table by the database (INSERT ... SELECT ... GROUP BY)."""
    dialect = postgresql if postgres else sqlite
    u = UsageRow
    used = UsageRow.__table__.c
    keys = {
        "project_id": u.project_id,
        at: _truncate(at, postgres).label(at),
        "provider": u.provider,
        "model": u.model,
        "capability": u.capability,
    }
    # Each roll-up column beside the expression that fills it, so that names and values cannot slip
    # out of step.
    sums: dict[str, Any] = {
        "requests": func.count(),
        "errors": func.sum(case((u.status == "error", 1), else_=0)),
        **{name: func.sum(used[name]) for name in METERED},
        "cost_usd": func.sum(u.cost_usd),  # NULL when no row of the group has a cost
        "latency_ms_sum": func.sum(u.latency_ms),
        "latency_ms_max": func.max(u.latency_ms),
    }
    assert tuple(sums) == ROLLUP_SUMS
    window = (u.id > bindparam("last"), u.id <= bindparam("upper"))
    query = select(*keys.values(), *sums.values()).where(*window).group_by(*keys.values())
    return _on_conflict(dialect.insert(table.__table__).from_select([*keys, *sums], query), table, at, postgres)


def _on_conflict(stmt: Any, table: RollupTable, at: str, postgres: bool) -> Any:
    """Either insert (of sums made in Python or by the SQL fold) adds to a key's row where there is one."""
    ex, c = stmt.excluded, table.__table__.c
    added = {name: c[name] + ex[name] for name in ROLLUP_SUMS if name not in ROLLUP_PEAKS and name != "cost_usd"}
    peak = func.greatest if postgres else func.max  # SQLite's two-argument max() is the scalar one
    return stmt.on_conflict_do_update(
        index_elements=[at, *ROLLUP_KEYS],
        set_={
            **added,
            # NULL + x is NULL: fall back to whichever side is known (both unknown stays NULL).
            "cost_usd": func.coalesce(c.cost_usd + ex.cost_usd, c.cost_usd, ex.cost_usd),
            "latency_ms_max": peak(c.latency_ms_max, ex.latency_ms_max),
        },
    )
