"""The batch writer: every record reaches the database, back-pressure instead of drops, retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from api_connector.storage.db import Database
from api_connector.storage.models import AuditRow, UsageRow
from api_connector.storage.record_writer import Record, RecordWriter
from tests.storage.factories import audit, usage


async def count(database: Database, model: type[UsageRow] | type[AuditRow]) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _outage(writer: RecordWriter, failures: int) -> list[int]:
    """Make the next ``failures`` inserts fail as if the database were unreachable."""
    calls = [0]
    real_insert = writer._insert

    async def flaky(batch: Sequence[Record]) -> None:
        calls[0] += 1
        if calls[0] <= failures:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("database is down"))
        await real_insert(batch)

    writer._insert = flaky  # type: ignore[method-assign]
    return calls


async def test_thousand_records_then_close_gives_thousand_rows(database: Database) -> None:
    writer = RecordWriter(database, queue_size=2000, batch_size=100, flush_interval=0.05)
    writer.start()
    for i in range(1000):
        assert writer.submit(usage(i) if i % 4 else audit(i))
    await writer.close()
    assert await count(database, UsageRow) == 750
    assert await count(database, AuditRow) == 250
    assert writer.written == 1000 and writer.queued == 0 and writer.failed_attempts == 0
    assert writer.stats()["submitted"] == 1000


async def test_records_are_written_without_close_within_the_flush_interval(database: Database) -> None:
    writer = RecordWriter(database, queue_size=100, batch_size=50, flush_interval=0.02)
    writer.start()
    try:
        writer.submit(usage(1))
        for _ in range(200):
            if writer.written == 1:
                break
            await asyncio.sleep(0.01)
        assert await count(database, UsageRow) == 1
    finally:
        await writer.close()


async def test_back_pressure_when_the_queue_is_full(database: Database) -> None:
    writer = RecordWriter(database, queue_size=10, batch_size=5, flush_interval=0.01)
    # Not started yet: nothing drains, so the queue fills up.
    for i in range(10):
        assert writer.submit(usage(i))
    assert writer.submit(usage(10)) is False  # refused, not dropped: the caller is told
    blocked = asyncio.create_task(writer.submit_wait(usage(10)))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # waits for room instead of dropping
    writer.start()
    await asyncio.wait_for(blocked, 5)
    await writer.close()
    assert await count(database, UsageRow) == 11
    assert writer.submitted == 11 and writer.written == 11


async def test_database_errors_are_retried_and_nothing_is_lost(database: Database) -> None:
    writer = RecordWriter(database, queue_size=100, batch_size=50, flush_interval=0.01, retry_initial=0.01)
    calls = _outage(writer, failures=2)
    writer.start()
    for i in range(20):
        writer.submit(usage(i))
    await writer.close()
    assert calls[0] >= 3
    assert writer.failed_attempts == 2
    assert await count(database, UsageRow) == 20 and writer.spilled == 0


async def test_a_bad_record_is_spilled_and_the_rest_written(database: Database, tmp_path: Path) -> None:
    spill = tmp_path / "spill" / "records.jsonl"
    writer = RecordWriter(database, queue_size=100, batch_size=50, flush_interval=0.05, spill_path=spill)
    writer.start()
    for i in range(9):
        writer.submit(audit(i))
    writer.submit(audit(99, details={"not json": object()}))
    await writer.close()
    assert await count(database, AuditRow) == 9
    assert writer.written == 9 and writer.spilled == 1
    lines = spill.read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["record"]["target_id"] == "key_99"


async def test_over_long_caller_values_are_clipped_not_refused(database: Database) -> None:
    writer = RecordWriter(database, queue_size=10, batch_size=10, flush_interval=0.01)
    writer.start()
    writer.submit(usage(1, model="m" * 1000, request_id="r" * 500))
    await writer.close()
    async with database.session() as session:
        model = await session.scalar(select(UsageRow.model))
    assert model == "m" * 255 and writer.spilled == 0


async def test_close_spills_when_the_database_stays_down(database: Database, tmp_path: Path) -> None:
    spill = tmp_path / "spill.jsonl"
    writer = RecordWriter(
        database, queue_size=100, batch_size=10, flush_interval=0.01, spill_path=spill, retry_initial=0.01
    )
    _outage(writer, failures=10**9)

    async def down() -> bool:
        return False

    writer._database_up = down  # type: ignore[method-assign]
    writer.start()
    for i in range(25):
        writer.submit(usage(i))
    await writer.close(grace_period=0.3)
    assert writer.written == 0 and writer.spilled == 25 and writer.queued == 0
    assert len(spill.read_text().splitlines()) == 25
    assert writer.failed_attempts > 0


async def test_submit_after_close_and_bad_records_raise(database: Database) -> None:
    writer = RecordWriter(database, queue_size=10, batch_size=10, flush_interval=0.01)
    writer.start()
    with pytest.raises(TypeError):
        writer.submit({"not": "a record"})  # type: ignore[arg-type]
    await writer.close()
    await writer.close()  # idempotent
    with pytest.raises(RuntimeError):
        writer.submit(usage(1))
    with pytest.raises(ValueError):
        usage(1, status="maybe")


async def test_a_bad_record_hiding_behind_a_generic_error_is_found(database: Database, tmp_path: Path) -> None:
    spill = tmp_path / "spill.jsonl"
    writer = RecordWriter(
        database, queue_size=100, batch_size=50, flush_interval=0.05, spill_path=spill, retry_initial=0.01
    )
    real_insert = writer._insert

    async def picky(batch: Sequence[Record]) -> None:
        if any(getattr(r, "request_id", None) == "req_poison" for r in batch):
            raise OperationalError("INSERT", {}, RuntimeError("driver chokes on one value"))
        await real_insert(batch)

    writer._insert = picky  # type: ignore[method-assign]
    writer.start()
    for i in range(10):
        writer.submit(usage(i))
    writer.submit(usage(0, request_id="req_poison"))
    await writer.close()
    assert await count(database, UsageRow) == 10
    assert writer.spilled == 1 and writer.written == 10
    assert "req_poison" in spill.read_text()
