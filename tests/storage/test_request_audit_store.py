"""The request audit's rows in storage, on SQLite and PostgreSQL: written by the batch writer with
their usage rows, filtered, erased within a project, deleted past retention by the background job;
and migration 0009 upgrading a database at 0008 that already holds data, and back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from sqlalchemy import func, insert, select

from api_connector.observability.audit_retention import AuditRetention
from api_connector.storage.db import Database
from api_connector.storage.models import UsageRow
from api_connector.storage.record_writer import RecordWriter, UsageRecord
from api_connector.storage.request_audit import (
    AUDIT_COLUMNS,
    AuditFilter,
    Payloads,
    RequestAudit,
    RequestAuditStore,
    StoredBody,
    insert_request_audits,
    request_audit_row,
)
from api_connector.storage.request_audit_models import RequestAuditRow
from tests.storage.test_storage_migrations import HEAD

NOW = datetime.now(UTC)


class _Bodies(Payloads):
    def stored(self) -> tuple[StoredBody, StoredBody]:
        return StoredBody("application/json", 12, '{"q":"hi"}'), StoredBody("audio/mpeg", 4096)


def _record(
    n: int,
    *,
    project: str = "proj_a",
    key: str = "key_1",
    provider: str = "up",
    status: Literal["success", "error"] = "success",
    days_ago: float = 0,
    payloads: Payloads | None = None,
) -> UsageRecord:
    return UsageRecord(
        request_id=f"req_{n}",
        project_id=project,
        key_id=key,
        provider=provider,
        model="m",
        capability="chat",
        status=status,
        created_at=NOW - timedelta(days=days_ago),
        audit=RequestAudit(30, "10.0.0.1", payloads),
    )


async def _write(database: Database, records: list[UsageRecord]) -> None:
    writer = RecordWriter(database, flush_interval=0.01)
    writer.start()
    for record in records:
        assert writer.submit(record)
    await writer.close()
    assert writer.spilled == 0


async def test_rows_come_with_their_usage_rows_and_read_back_filtered(database: Database) -> None:
    await _write(
        database,
        [
            _record(1, payloads=_Bodies()),
            _record(2, key="key_2", provider="other", status="error", days_ago=2),
            _record(3, project="proj_b"),
            UsageRecord("req_4", "proj_a", "up", "m", "chat", "success"),  # a project that keeps none
        ],
    )
    store = RequestAuditStore(database)
    rows = await store.list(AuditFilter("proj_a"))
    assert [row.request_id for row in rows] == ["req_1", "req_2"]
    kept = rows[0]
    assert kept.payloads == "sanitized" and kept.client == "10.0.0.1"
    assert kept.request is not None and kept.request.body == '{"q":"hi"}' and kept.request.bytes == 12
    assert kept.response is not None and kept.response.body is None and kept.response.type == "audio/mpeg"
    assert kept.expires_at - kept.created_at == timedelta(days=30)
    assert rows[1].payloads == "metadata" and rows[1].request is None
    assert [r.request_id for r in await store.list(AuditFilter("proj_a", key_id="key_2"))] == ["req_2"]
    assert [r.request_id for r in await store.list(AuditFilter("proj_a", provider="other"))] == ["req_2"]
    assert [r.request_id for r in await store.list(AuditFilter("proj_a", status="success"))] == ["req_1"]
    assert [r.request_id for r in await store.list(AuditFilter("proj_a", until=NOW - timedelta(days=1)))] == ["req_2"]
    assert len(await store.list(AuditFilter(None))) == 3
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRow)) == 4


async def test_erasure_stays_within_its_project(database: Database) -> None:
    await _write(database, [_record(1), _record(2), _record(3, project="proj_b")])
    store = RequestAuditStore(database)
    assert await store.erase(AuditFilter("proj_b", key_id="key_1")) == 1
    assert await store.erase(AuditFilter("proj_b", key_id="key_1")) == 0
    assert len(await store.list(AuditFilter("proj_a"))) == 2


async def test_the_retention_job_deletes_rows_past_retention_only(database: Database) -> None:
    await _write(database, [_record(1, days_ago=31), _record(2, days_ago=29), _record(3, days_ago=400)])
    store = RequestAuditStore(database)
    job = AuditRetention(store, interval=0.05)
    job.start()
    try:
        await asyncio.wait_for(job.swept.wait(), 20)  # the first sweep runs at once
    finally:
        await job.close()
    assert job.purged == 2
    assert [row.request_id for row in await store.list(AuditFilter(None))] == ["req_2"]
    assert await store.purge_expired(NOW + timedelta(days=30)) == 1


async def test_migration_0009_upgrades_a_database_holding_data_and_back(database: Database) -> None:
    await _write(database, [_record(1)])
    await database.downgrade("0008_stored_responses")
    async with database.session() as session:  # the usage rows of before stay
        assert await session.scalar(select(func.count()).select_from(UsageRow)) == 1
    await database.migrate()
    assert await database.current_revision() == HEAD
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(RequestAuditRow)) == 0
    await _write(database, [_record(2)])
    assert [row.request_id for row in await RequestAuditStore(database).list(AuditFilter("proj_a"))] == ["req_2"]


class _CutShort(Payloads):
    def stored(self) -> tuple[StoredBody, StoredBody]:
        return StoredBody("application/json", 90_000, '{"q":"h', truncated=True), StoredBody("text/plain", 0, "")


def test_the_columns_written_are_the_tables() -> None:
    written = {column.name for column in RequestAuditRow.__table__.columns if not column.primary_key}
    assert set(AUDIT_COLUMNS) == written and len(AUDIT_COLUMNS) == len(written)


async def test_the_bulk_insert_reads_back_as_the_orm_writes_rows(database: Database) -> None:
    # SQLite takes the driver's executemany with values in SQLAlchemy's stored form; it must read back
    # exactly like the Core insert's rows (timestamps in an offset zone, booleans, NULLs, bodies).
    at = datetime(2026, 11, 23, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=2)))
    records = [
        _record(1, payloads=_CutShort()),
        _record(2, status="error", payloads=_Bodies()),
        UsageRecord("req_3", "proj_a", "up", "m", "chat", "success", created_at=at, audit=RequestAudit(7)),
        UsageRecord("req_4", "proj_a", "up", "m", "chat", "success"),  # keeps no audit row
    ]
    reference = [{**request_audit_row(r, r.audit), "request_id": "ref"} for r in records if r.audit is not None]
    async with database.engine.begin() as connection:
        await insert_request_audits(connection, records)
        await connection.execute(insert(RequestAuditRow), reference)  # SQLAlchemy's own binding
    async with database.session() as session:
        stored = (await session.execute(select(RequestAuditRow).order_by(RequestAuditRow.id))).scalars().all()
    assert [row.request_id for row in stored] == ["req_1", "req_2", "req_3", "ref", "ref", "ref"]
    for written, expected in zip(stored[:3], stored[3:], strict=True):
        for column in AUDIT_COLUMNS:
            if column != "request_id":
                assert getattr(written, column) == getattr(expected, column), column
    assert stored[0].request_truncated is True and stored[0].response_truncated is False
    assert stored[0].response_body == "" and stored[1].response_body is None
    assert stored[2].created_at == at.astimezone(UTC) and stored[2].client is None and stored[2].key_id is None
    assert stored[2].expires_at == at + timedelta(days=7)
