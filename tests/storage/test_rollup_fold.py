"""The writer folds each batch into the roll-ups as it writes it; the SQL fold catches up on the rest.

Every usage row ends in both roll-up tables exactly once, whichever way it got there: the writer's fold in
Python (the steady state), the SQL fold of rows no writer folded, a batch retried after its transaction
failed, writers and catch-ups running at once. On SQLite and PostgreSQL. The values are chosen so that
every float sum is exact (multiples of powers of two): the tables compare with ==, not within a tolerance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from api_connector.observability.rollups import Rollups
from api_connector.storage import rollup_fold
from api_connector.storage.db import Database
from api_connector.storage.models import METERED, UsageRow
from api_connector.storage.record_writer import RecordWriter, UsageRecord
from api_connector.storage.rollup_models import (
    ROLLUP_SUMS,
    RollupWatermarkRow,
    UsageRollupHourRow,
    UsageRollupRow,
)
from api_connector.storage.usage_insert import insert_usage
from tests.storage.factories import usage

START = datetime(2026, 3, 1, 10, 50, 7, 250_000, tzinfo=UTC)  # the rows cross 11:00: two hours
LONG = "x" * 300  # cut to the column's 255 characters: the two long names below share one key

Table = dict[tuple[Any, ...], dict[str, Any]]


def records(first: int, count: int) -> list[UsageRecord]:
    """Rows over a dozen keys: two projects, a provider whose calls never have a cost, errors, every unit."""
    made = []
    for i in range(first, first + count):
        free = i % 4 == 3
        made.append(
            usage(
                i,
                project="proj_a" if i % 5 else "proj_b",
                provider="free-main" if free else "paid-main",
                model=LONG + str(i % 2) if i % 3 == 0 else "m",
                capability="speech" if i % 6 == 1 else "chat",
                status="error" if i % 7 == 0 else "success",
                prompt_tokens=i,
                completion_tokens=2 * i,
                cached_tokens=i % 3,
                characters=3_000_000_000 + i,  # a 64-bit sum
                audio_seconds=0.25 * (i % 8),
                pages=i % 4,
                rows=10 * i,
                searches=i % 2,
                # Unknown for every free call and for some paid ones: a sum of known costs, or NULL.
                cost_usd=None if free or i % 10 == 1 else 0.125 * (i % 5),
                latency_ms=10.5 + 0.25 * (i % 9),
                created_at=START + timedelta(seconds=23 * i),
            )
        )
    return made


def expected(written: Sequence[UsageRecord], hourly: bool) -> Table:
    """What the roll-ups must hold for these rows, added up here independently of either fold."""
    table: Table = {}
    for r in written:
        at = r.created_at.replace(second=0, microsecond=0)
        if hourly:
            at = at.replace(minute=0)
        key = (r.project_id, at, r.provider, r.model[:255], r.capability)
        sums = table.setdefault(key, dict.fromkeys(ROLLUP_SUMS, 0) | {"cost_usd": None, "latency_ms_max": None})
        sums["requests"] += 1
        sums["errors"] += r.status == "error"
        for unit in METERED:
            sums[unit] += getattr(r, unit)
        if r.cost_usd is not None:
            sums["cost_usd"] = r.cost_usd + (sums["cost_usd"] or 0)
        sums["latency_ms_sum"] += r.latency_ms
        sums["latency_ms_max"] = max(sums["latency_ms_max"] or 0, r.latency_ms)
    return table


async def table(database: Database, row: type[UsageRollupRow] | type[UsageRollupHourRow]) -> Table:
    at = "hour" if row is UsageRollupHourRow else "minute"
    async with database.session() as session:
        found = (await session.execute(select(row))).scalars().all()
    return {
        (r.project_id, getattr(r, at), r.provider, r.model, r.capability): {
            name: getattr(r, name) for name in ROLLUP_SUMS
        }
        for r in found
    }


async def assert_folded_once(database: Database, written: Sequence[UsageRecord]) -> None:
    """Both tables hold exactly these rows' sums, and the watermark covers every usage row."""
    assert await table(database, UsageRollupRow) == expected(written, hourly=False)
    assert await table(database, UsageRollupHourRow) == expected(written, hourly=True)
    async with database.session() as session:
        last = await session.scalar(select(RollupWatermarkRow.last_id))
        top, count = (await session.execute(select(func.max(UsageRow.id), func.count(UsageRow.id)))).one()
    assert count == len(written) and last == top


async def write(database: Database, batch: Sequence[UsageRecord], batch_size: int = 4) -> RecordWriter:
    writer = RecordWriter(database, queue_size=1000, batch_size=batch_size, flush_interval=0.01, retry_initial=0.01)
    writer.start()
    for record in batch:
        assert writer.submit(record)
    await writer.close()
    assert writer.written == len(batch) and writer.spilled == 0
    return writer


def count_sql_folds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The ranges the SQL fold is run over, from now on."""
    ranges: list[tuple[int, int]] = []
    real = rollup_fold._fold_sql

    async def counted(connection: AsyncConnection, statements: Any, last: int, top: int) -> None:
        ranges.append((last, top))
        await real(connection, statements, last, top)

    monkeypatch.setattr(rollup_fold, "_fold_sql", counted)
    return ranges


async def insert_directly(database: Database, batch: Sequence[UsageRecord]) -> None:
    """Rows past the watermark that no writer folded (as a version from before writers folded left them)."""
    async with database.engine.begin() as connection:
        await insert_usage(connection, batch)


async def test_rows_written_through_the_writer_are_in_the_rollups_with_no_sql_fold(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per minute and per hour, every sum exact: errors counted, latency peak, costs known in part or not
    at all (NULL), long model names cut as the usage row stores them; the first batch of all included."""
    sql_folds = count_sql_folds(monkeypatch)
    written = records(0, 60)
    await write(database, written)  # 15 batches, most landing on keys an earlier one made: the upsert
    assert sql_folds == []
    minutes = await table(database, UsageRollupRow)
    assert minutes == expected(written, hourly=False)
    await assert_folded_once(database, written)
    # What the sums look like, spelled out for one key of each kind.
    free = [r for r in written if r.provider == "free-main"]
    assert free and all(sums["cost_usd"] is None for key, sums in minutes.items() if key[2] == "free-main")
    hours = await table(database, UsageRollupHourRow)
    assert {key[1].hour for key in hours} == {10, 11}
    assert sum(sums["requests"] for sums in hours.values()) == 60
    assert sum(sums["errors"] for sums in hours.values()) == sum(r.status == "error" for r in written) == 9
    assert {key[3] for key in hours} == {"m", LONG[:255]}
    assert max(sums["latency_ms_max"] for sums in hours.values()) == 12.5
    assert await Rollups(database).refresh() == 0  # nothing left for the catch-up


async def test_the_writers_fold_equals_the_sql_fold_of_the_same_rows(database: Database) -> None:
    """Folded by the writer, then the roll-ups emptied and the same stored rows folded again by the SQL
    fold from the start: the same keys and the same values, to the last bit."""
    await write(database, records(0, 90), batch_size=7)
    by_writer = (await table(database, UsageRollupRow), await table(database, UsageRollupHourRow))
    async with database.session() as session, session.begin():
        for row in (UsageRollupRow, UsageRollupHourRow, RollupWatermarkRow):
            await session.execute(delete(row))
    assert await Rollups(database).refresh() == 90
    by_sql = (await table(database, UsageRollupRow), await table(database, UsageRollupHourRow))
    assert by_sql == by_writer


async def test_rows_no_writer_folded_are_caught_up_by_the_next_batch(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows inserted directly past the watermark: the next writer batch folds them with its own by the SQL
    fold, in its transaction, and the batches after it are folded in Python again."""
    sql_folds = count_sql_folds(monkeypatch)
    await insert_directly(database, records(0, 5))  # before the watermark's row even exists
    await write(database, records(5, 4))
    assert sql_folds == [(0, 9)]
    await write(database, records(9, 8))
    await insert_directly(database, records(17, 6))
    await write(database, records(23, 4))
    assert sql_folds == [(0, 9), (17, 27)]
    await write(database, records(27, 12))
    assert len(sql_folds) == 2
    await assert_folded_once(database, records(0, 39))
    assert await Rollups(database).refresh() == 0


async def test_the_catch_up_folds_what_no_writer_did_and_then_finds_nothing(database: Database) -> None:
    rollups = Rollups(database)
    await write(database, records(0, 8))
    await insert_directly(database, records(8, 10))
    assert await rollups.refresh() == 10
    assert await rollups.refresh() == 0
    await write(database, records(18, 8))
    assert await rollups.refresh() == 0
    await assert_folded_once(database, records(0, 26))


Step = Callable[[AsyncConnection, Any, Any, Any], Awaitable[None]]


@pytest.mark.parametrize("path", ["python", "sql"])
async def test_a_batch_whose_transaction_fails_after_the_fold_is_counted_once_when_retried(
    database: Database, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The fault strikes after the roll-ups were added to, before the commit: nothing of the attempt stays
    (rows, sums, watermark), and the retry folds the batch once. Both ways of folding."""
    if path == "sql":
        await insert_directly(database, records(0, 3))  # the batch then folds by the SQL fold
    name = "_add" if path == "python" else "_fold_sql"
    real: Step = getattr(rollup_fold, name)
    added_before_the_fault: list[int] = []

    async def then_fail(connection: AsyncConnection, *args: Any) -> None:
        await real(connection, *args)
        if not added_before_the_fault:
            rows = await connection.scalar(select(func.sum(UsageRollupRow.requests)))
            added_before_the_fault.append(int(rows or 0))
            raise OperationalError("COMMIT", {}, ConnectionResetError("connection lost"))

    monkeypatch.setattr(rollup_fold, name, then_fail)
    writer = await write(database, records(3, 5), batch_size=5)
    assert writer.failed_attempts == 1
    assert added_before_the_fault == [5 if path == "python" else 8]  # the failed attempt had added its sums
    await assert_folded_once(database, records(0, 8) if path == "sql" else records(3, 5))


async def test_writers_of_two_replicas_and_the_catch_up_at_once_fold_every_row_once(database: Database) -> None:
    """Two engines on the same database (two replicas) write batches while rows are inserted directly and
    the catch-up runs in a loop: each of them folds under the lock, so no row is lost or counted twice."""
    other = Database(database.url, max_open=4, max_idle=2)
    rollups = Rollups(database)
    done = asyncio.Event()

    async def catch_up() -> None:
        while not done.is_set():
            await rollups.refresh()
            await asyncio.sleep(0)

    async def direct() -> None:
        for first in range(400, 460, 6):
            await insert_directly(database, records(first, 6))
            await asyncio.sleep(0)

    try:
        looping = asyncio.create_task(catch_up())
        await asyncio.gather(write(database, records(0, 200), 5), write(other, records(200, 200), 3), direct())
        done.set()
        await looping
    finally:
        await other.close()
    await rollups.refresh()
    await assert_folded_once(database, records(0, 460))
