"""The bulk usage insert: what the fast SQLite path writes reads back exactly as the ORM would have it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import insert, select

from api_connector.storage.db import Database
from api_connector.storage.models import UsageRow
from api_connector.storage.record_writer import UsageRecord
from api_connector.storage.usage_insert import USAGE_COLUMNS, insert_usage, sqlite_timestamp, usage_row


def _row(i: int, at: datetime, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "request_id": f"r{i}",
        "project_id": "proj_a",
        "key_id": None if i % 2 else "key_1",
        "provider": "p",
        "model": "m",
        "capability": "chat",
        "status": "error" if i == 2 else "success",
        "error_code": "timeout" if i == 2 else None,
        "prompt_tokens": 10 + i,
        "completion_tokens": 5,
        "cached_tokens": i,
        "cost_usd": None if i == 1 else 0.001 * i,
        "latency_ms": 12.5 + i,
        "created_at": at,
        "cached": i == 3,
        "coalesced": i == 4,
        # The units of migration 0007; characters past 2**31 to show the column is 64-bit everywhere.
        "characters": 3_000_000_000 + i,
        "audio_seconds": 1.25 * i,
        "pages": i,
        "rows": 1000 * i,
        "searches": 2 * i,
    }
    row.update(extra)
    return row


async def test_rows_read_back_like_the_orm_writes_them(database: Database) -> None:
    # An offset zone and a whole second: the stored form must still be UTC with six decimals.
    at = datetime(2026, 11, 23, 23, 59, 59, tzinfo=timezone(timedelta(hours=2)))
    fast = [UsageRecord(**_row(i, at + timedelta(microseconds=i * 7))) for i in range(5)]  # type: ignore[arg-type]
    slow = [_row(i, at + timedelta(microseconds=i * 7), request_id=f"s{i}") for i in range(5)]
    async with database.engine.begin() as connection:
        await insert_usage(connection, fast)
        await connection.execute(insert(UsageRow), slow)  # the reference: SQLAlchemy's own binding
    async with database.session() as session:
        rows = (await session.execute(select(UsageRow).order_by(UsageRow.id))).scalars().all()
    assert len(rows) == 10
    for written, reference in zip(rows[:5], rows[5:], strict=True):
        for column in USAGE_COLUMNS:
            if column != "request_id":
                assert getattr(written, column) == getattr(reference, column), column
        assert written.created_at.tzinfo is not None and written.created_at == reference.created_at
    assert rows[0].created_at == at.astimezone(UTC)
    assert rows[1].cost_usd is None and rows[3].cached is True and rows[4].coalesced is True
    assert (rows[4].characters, rows[4].audio_seconds, rows[4].pages, rows[4].rows, rows[4].searches) == (
        3_000_000_004,
        5.0,
        4,
        4000,
        8,
    )
    # The range queries compare stored text on SQLite: both forms must sort and match alike.
    async with database.session() as session:
        since = at.astimezone(UTC)
        found = (await session.execute(select(UsageRow.id).where(UsageRow.created_at >= since))).all()
    assert len(found) == 10


def test_sqlite_timestamps_match_the_dialects_form_across_seconds_and_zones() -> None:
    # The text of a second is reused until the second changes: alternate seconds, either edge of one,
    # offset zones, and dates far apart must all read as SQLAlchemy's SQLite dialect would write them.
    def dialect_form(value: datetime) -> str:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    base = datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC)
    values = [base, base + timedelta(microseconds=999_999), base + timedelta(seconds=1), base]
    values += [base + timedelta(days=d * 3659, seconds=d * 7919, microseconds=(d * 104_729) % 10**6) for d in range(60)]
    values += [datetime(2200, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)]
    values += [
        v.astimezone(timezone(timedelta(hours=h, minutes=30))) for h, v in zip(range(-12, 13), values, strict=False)
    ]
    for value in values:
        assert sqlite_timestamp(value) == dialect_form(value), value


def test_a_usage_record_has_exactly_the_written_columns() -> None:
    # Every attribute but the request audit's row, which goes to a table of its own.
    assert {f.name for f in fields(UsageRecord)} - {"audit"} == set(USAGE_COLUMNS)


async def test_over_long_caller_text_is_cut_to_its_column(database: Database) -> None:
    at = datetime(2026, 11, 23, tzinfo=UTC)
    record = UsageRecord(**_row(0, at, model="m" * 400, request_id="r" * 300))  # type: ignore[arg-type]
    assert len(usage_row(record)["model"]) == 255 and len(usage_row(record)["request_id"]) == 128
    async with database.engine.begin() as connection:
        await insert_usage(connection, [record])
    async with database.session() as session:
        stored = (await session.execute(select(UsageRow))).scalars().one()
    assert stored.model == "m" * 255 and stored.request_id == "r" * 128
