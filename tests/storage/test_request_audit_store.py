"""The request audit in storage, on SQLite and PostgreSQL: the caller's address on usage rows and the
bodies rows written by the batch writer with them, read back joined and filtered, erased within a
project, forgotten past retention by the background job (usage rows stay); and migration 0009
upgrading a database at 0008 that already holds data, and back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from sqlalchemy import func, insert, select

from api_connector.observability.audit_retention import AuditRetention
from api_connector.observability.payloads import AuditPolicies
from api_connector.observability.settings_model import RequestAuditConfig
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
    request_id: str | None = None,
) -> UsageRecord:
    """A usage record as the recorder makes it in metadata mode, or sanitized with ``payloads``."""
    return UsageRecord(
        request_id=request_id or f"req_{n}",
        project_id=project,
        key_id=key,
        provider=provider,
        model="m",
        capability="chat",
        status=status,
        created_at=NOW - timedelta(days=days_ago),
        client="10.0.0.1",
        audit=None if payloads is None else RequestAudit(30, payloads),
    )


def _store(database: Database) -> RequestAuditStore:
    return RequestAuditStore(database, lambda project: 30)


async def _count(database: Database, table: type[UsageRow] | type[RequestAuditRow]) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


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
    assert await _count(database, RequestAuditRow) == 1  # the sanitized request's bodies only
    store = _store(database)
    rows = await store.list(AuditFilter("proj_a"))
    assert [row.request_id for row in rows] == ["req_1", "req_2"]
    kept = rows[0]
    assert kept.payloads == "sanitized" and kept.client == "10.0.0.1"
    assert kept.request is not None and kept.request.body == '{"q":"hi"}' and kept.request.bytes == 12
    assert kept.response is not None and kept.response.body is None and kept.response.type == "audio/mpeg"
    assert kept.expires_at - kept.created_at == timedelta(days=30)
    assert rows[1].payloads == "metadata" and rows[1].request is None and rows[1].client == "10.0.0.1"
    assert rows[1].expires_at - rows[1].created_at == timedelta(days=30)
    assert (rows[1].key_id, rows[1].provider, rows[1].status) == ("key_2", "other", "error")
    assert [r.request_id for r in await store.list(AuditFilter("proj_a", key_id="key_2"))] == ["req_2"]
    assert [r.request_id for r in await store.list(AuditFilter("proj_a", provider="other"))] == ["req_2"]
    assert [r.request_id for r in await store.list(AuditFilter("proj_a", status="success"))] == ["req_1"]
    assert [r.request_id for r in await store.list(AuditFilter("proj_a", until=NOW - timedelta(days=1)))] == ["req_2"]
    assert len(await store.list(AuditFilter(None))) == 3
    assert await _count(database, UsageRow) == 4


async def test_a_repeated_request_id_joins_each_usage_row_to_its_own_bodies(database: Database) -> None:
    # Callers may send their own request id: two requests sharing one stay two rows, each with its bodies.
    await _write(
        database,
        [_record(1, request_id="same", payloads=_Bodies(), days_ago=1), _record(2, request_id="same")],
    )
    rows = await _store(database).list(AuditFilter("proj_a"))
    assert [(row.request_id, row.payloads) for row in rows] == [("same", "metadata"), ("same", "sanitized")]


async def test_erasure_stays_within_its_project(database: Database) -> None:
    proj_b = [_record(3, project="proj_b", payloads=_Bodies()), _record(4, project="proj_b")]
    await _write(database, [_record(1), _record(2), *proj_b])
    store = _store(database)
    assert await store.erase(AuditFilter("proj_b", key_id="key_1")) == 2
    assert await store.erase(AuditFilter("proj_b", key_id="key_1")) == 0
    assert len(await store.list(AuditFilter("proj_a"))) == 2
    assert await store.list(AuditFilter("proj_b")) == []
    assert await _count(database, RequestAuditRow) == 0
    assert await _count(database, UsageRow) == 4  # the usage log stays, without the addresses


async def test_the_retention_job_forgets_what_is_past_retention_only(database: Database) -> None:
    await _write(
        database,
        [
            _record(1, days_ago=31),
            _record(2, days_ago=29),
            _record(3, days_ago=400, payloads=_Bodies()),
            _record(4, project="proj_short", days_ago=8),
            _record(5, project="proj_short", days_ago=6),
        ],
    )
    store = _store(database)
    policies = AuditPolicies(RequestAuditConfig.model_validate({"projects": {"proj_short": {"retention_days": 7}}}))
    job = AuditRetention(store, policies, interval=0.05)
    job.start()
    try:
        await asyncio.wait_for(job.swept.wait(), 20)  # the first sweep runs at once
    finally:
        await job.close()
    assert (job.purged, job.cleared) == (1, 3)  # req_3's bodies; the addresses of req_1, req_3, req_4
    assert [row.request_id for row in await store.list(AuditFilter(None))] == ["req_5", "req_2"]
    assert await _count(database, UsageRow) == 5
    assert await _count(database, RequestAuditRow) == 0
    await _write(database, [_record(6, days_ago=30.5)])  # a late write, before the previous cutoff
    assert await job.sweep() == 1
    assert await store.forget_clients(NOW + timedelta(days=30)) == 2


async def test_migration_0009_upgrades_a_database_holding_data_and_back(database: Database) -> None:
    await _write(database, [_record(1)])
    await database.downgrade("0008_stored_responses")
    async with database.session() as session:  # the usage rows of before stay
        assert await session.scalar(select(func.count()).select_from(UsageRow)) == 1
    await database.migrate()
    assert await database.current_revision() == HEAD
    assert await _count(database, RequestAuditRow) == 0
    assert await _store(database).list(AuditFilter("proj_a")) == []  # the old usage row has no address
    await _write(database, [_record(2, payloads=_Bodies())])
    assert [row.request_id for row in await _store(database).list(AuditFilter("proj_a"))] == ["req_2"]


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
        UsageRecord("req_3", "proj_a", "up", "m", "chat", "success", created_at=at, audit=RequestAudit(7, _Bodies())),
        _record(4),  # metadata: keeps no bodies row
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
    assert stored[2].created_at == at.astimezone(UTC) and stored[2].request_body == '{"q":"hi"}'
    assert stored[2].expires_at == at + timedelta(days=7)
