"""Migration 0007 (usage by unit) on a database holding wave-one rows, on SQLite and PostgreSQL.

The rows go in with raw SQL at revision 0006, in that revision's own columns (no model is involved,
as nothing but the migration knew the schema then); after the upgrade every old value must read back
unchanged, the new units 0, and both the fold and a replica not yet upgraded must go on working.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from api_connector.observability.rollups import Rollups
from api_connector.storage.db import Database, alembic_config
from api_connector.storage.models import UsageRow
from api_connector.storage.record_writer import UsageRecord
from api_connector.storage.rollup_models import UsageRollupHourRow, UsageRollupRow
from api_connector.storage.usage_insert import insert_usage, sqlite_timestamp
from tests.storage.test_storage_migrations import HEAD

WAVE_ONE = "0006_hourly_rollups"
UNITS = ("characters", "audio_seconds", "pages", "rows", "searches")
MINUTE = datetime(2026, 3, 1, 9, 41, tzinfo=UTC)
HOUR = MINUTE.replace(minute=0)

USAGE = [
    {
        "request_id": "req_old_1",
        "project_id": "proj_a",
        "key_id": "key_1",
        "provider": "openai-main",
        "model": "gpt-4o-mini",
        "capability": "chat",
        "status": "success",
        "error_code": None,
        "prompt_tokens": 1234,
        "completion_tokens": 567,
        "cached_tokens": 89,
        "cost_usd": 0.000123,
        "latency_ms": 321.5,
        "created_at": MINUTE + timedelta(seconds=7, microseconds=250),
        "cached": False,
        "coalesced": True,
    },
    {
        "request_id": "req_old_2",
        "project_id": "proj_a",
        "key_id": None,
        "provider": "anthropic-main",
        "model": "claude-3-5-haiku-latest",
        "capability": "chat",
        "status": "error",
        "error_code": "timeout",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cached_tokens": 0,
        "cost_usd": None,
        "latency_ms": 30000.0,
        "created_at": MINUTE + timedelta(seconds=59, microseconds=999_999),
        "cached": True,
        "coalesced": False,
    },
]
_SUMS: dict[str, Any] = {
    "project_id": "proj_a",
    "provider": "openai-main",
    "model": "gpt-4o-mini",
    "capability": "chat",
    "requests": 40,
    "errors": 3,
    "prompt_tokens": 5_000_000_000,  # past 2**32: the roll-ups' sums are 64-bit
    "completion_tokens": 250_000,
    "cached_tokens": 1_000,
    "cost_usd": 12.5,
    "latency_ms_sum": 8000.0,
    "latency_ms_max": 950.0,
}
MINUTE_ROLLUPS = [{**_SUMS, "minute": MINUTE}, {**_SUMS, "minute": MINUTE - timedelta(minutes=1), "cost_usd": None}]
HOUR_ROLLUPS = [{**_SUMS, "hour": HOUR, "requests": 80, "errors": 6}]


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _stored(value: Any, dialect: str) -> Any:
    # Raw SQL bypasses the models' type: SQLite keeps UTC timestamps as text, in SQLAlchemy's format.
    return sqlite_timestamp(value) if isinstance(value, datetime) and dialect == "sqlite" else value


async def _insert_raw(database: Database, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    statement = text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})")
    async with database.engine.begin() as connection:
        await connection.execute(statement, [{k: _stored(v, database.dialect) for k, v in r.items()} for r in rows])


async def _wave_one(database: Database) -> None:
    """A database created by the wave-one releases (up to 0006) and used by them."""
    await database.downgrade("base")
    async with database.engine.begin() as connection:
        await connection.run_sync(_upgrade, WAVE_ONE)
    assert await database.current_revision() == WAVE_ONE
    await _insert_raw(database, "usage_records", USAGE)
    await _insert_raw(database, "usage_rollups", MINUTE_ROLLUPS)
    await _insert_raw(database, "usage_rollups_hourly", HOUR_ROLLUPS)


async def _read(database: Database, model: Any, order: Any) -> list[dict[str, Any]]:
    async with database.session() as session:
        found = (await session.execute(select(model).order_by(*order))).scalars().all()
    return [{c.name: getattr(row, c.key) for c in model.__table__.columns} for row in found]


def _keeps(before: list[dict[str, Any]], after: list[dict[str, Any]], *, new_units: bool = True) -> None:
    assert len(after) == len(before)
    for old, row in zip(before, after, strict=True):
        assert {name: row[name] for name in old} == old
        if new_units:
            assert all(row[unit] == 0 for unit in UNITS), row


async def _all(database: Database) -> tuple[list[dict[str, Any]], ...]:
    return (
        await _read(database, UsageRow, [UsageRow.id]),
        await _read(database, UsageRollupRow, [UsageRollupRow.minute]),
        await _read(database, UsageRollupHourRow, [UsageRollupHourRow.hour]),
    )


async def test_upgrade_keeps_every_wave_one_value_and_zeroes_the_new_units(database: Database) -> None:
    await _wave_one(database)
    await database.migrate()
    assert await database.current_revision() == HEAD  # 0007 and every migration after it
    usage, minutes, hours = await _all(database)
    _keeps(USAGE, usage)
    _keeps(sorted(MINUTE_ROLLUPS, key=lambda r: r["minute"]), minutes)
    _keeps(HOUR_ROLLUPS, hours)
    assert isinstance(usage[0]["audio_seconds"], float)


async def test_after_the_upgrade_old_replicas_new_rows_and_the_fold_all_work(database: Database) -> None:
    await _wave_one(database)
    await database.migrate()
    # A replica still on the wave-one release writes the columns it knows: the defaults fill the rest.
    straggler = {**USAGE[0], "request_id": "req_straggler", "created_at": MINUTE + timedelta(seconds=30)}
    await _insert_raw(database, "usage_records", [straggler])
    # The new release writes every unit, through the bulk insert (SQLite's fast path included).
    fresh = UsageRecord(
        request_id="req_new",
        project_id="proj_a",
        provider="openai-main",
        model="gpt-4o-mini",
        capability="chat",
        status="success",
        prompt_tokens=10,
        completion_tokens=2,
        characters=1_200,
        audio_seconds=61.5,
        pages=3,
        rows=250,
        searches=4,
        cost_usd=0.5,
        latency_ms=20.0,
        created_at=MINUTE + timedelta(seconds=40),
    )
    async with database.engine.begin() as connection:
        await insert_usage(connection, [fresh])
    usage = await _read(database, UsageRow, [UsageRow.id])
    _keeps([*USAGE, straggler], usage[:3])
    assert (usage[3]["characters"], usage[3]["audio_seconds"], usage[3]["pages"]) == (1_200, 61.5, 3)
    assert (usage[3]["rows"], usage[3]["searches"]) == (250, 4)

    # The fold adds all four usage rows of MINUTE onto the wave-one roll-up rows of that minute and hour.
    assert await Rollups(database).refresh() == 4
    minute_rows = await _read(database, UsageRollupRow, [UsageRollupRow.minute])
    minutes = {(r["minute"], r["provider"]): r for r in minute_rows}
    assert len(minutes) == 3  # the wave-one error row of anthropic-main has a group of its own
    merged = minutes[MINUTE, "openai-main"]  # the wave-one sums plus those of the three openai-main rows
    openai_rows = [USAGE[0], straggler]
    assert merged["requests"] == _SUMS["requests"] + 3
    assert merged["prompt_tokens"] == _SUMS["prompt_tokens"] + sum(r["prompt_tokens"] for r in openai_rows) + 10
    assert (merged["characters"], merged["audio_seconds"], merged["pages"], merged["rows"], merged["searches"]) == (
        1_200,
        61.5,
        3,
        250,
        4,
    )
    assert abs(merged["cost_usd"] - (12.5 + 2 * 0.000123 + 0.5)) < 1e-9
    assert merged["latency_ms_max"] == 950.0
    _keeps([MINUTE_ROLLUPS[1]], [minutes[MINUTE - timedelta(minutes=1), "openai-main"]])  # untouched
    hours = await _read(database, UsageRollupHourRow, [UsageRollupHourRow.hour, UsageRollupHourRow.provider])
    assert [(h["provider"], h["hour"], h["requests"], h["pages"]) for h in hours] == [
        ("anthropic-main", HOUR, 1, 0),  # the wave-one error row, alone in its group
        ("openai-main", HOUR, 80 + 3, 3),
    ]


async def test_downgrade_back_to_wave_one_keeps_the_old_values(database: Database) -> None:
    """Rolling back a release drops only the new units (SQLite rebuilds the tables in batch mode)."""
    await _wave_one(database)
    await database.migrate()
    await database.downgrade(WAVE_ONE)
    assert await database.current_revision() == WAVE_ONE
    async with database.engine.connect() as connection:
        names = [row[0] for row in await connection.execute(text("SELECT request_id FROM usage_records ORDER BY id"))]
    assert names == ["req_old_1", "req_old_2"]
    await database.migrate()
    usage, minutes, hours = await _all(database)
    _keeps(USAGE, usage)
    _keeps(sorted(MINUTE_ROLLUPS, key=lambda r: r["minute"]), minutes)
    _keeps(HOUR_ROLLUPS, hours)
