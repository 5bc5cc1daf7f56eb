"""The request audit's rows: what a usage record brings to the batch writer, and reading them back.

A call of a project whose ``audit.payloads`` is not ``none`` hands its usage record a ``RequestAudit``
(one small tuple); the batch writer turns it into a ``request_audits`` row in the same transaction as
the usage row. Bodies come as ``Payloads``: what the pipeline already held (the typed request, the
answer or the pieces of a stream), made into stored text only here, off the request path, by the
implementation the recorder provides (secrets masked, fields redacted, cut to size).

Every read and erasure names its project (or, for a global admin's ``scope=all``, every project), so a
project never sees or erases another's rows.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import ColumnElement, Select, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import utcnow
from api_connector.storage.request_audit_models import CLIENT_LEN, TYPE_LEN, RequestAuditRow
from api_connector.storage.usage_insert import SQLiteRows

if TYPE_CHECKING:
    from api_connector.storage.record_writer import UsageRecord

log = logging.getLogger(__name__)
MAX_LIMIT = 1000
_PURGE_BATCH = 5000


@dataclass(frozen=True, slots=True)
class StoredBody:
    """One body as the audit keeps it: its media type, its size as it passed, the stored text (None: not
    kept, such as audio) and whether that text was cut short."""

    type: str | None
    bytes: int | None
    text: str | None = None
    truncated: bool = False


NO_BODY = StoredBody(None, None)


class Payloads(ABC):
    """A call's request and answer as the pipeline held them; sanitized when the writer asks."""

    @abstractmethod
    def stored(self) -> tuple[StoredBody, StoredBody]:
        """(request, answer) as they may be kept: secrets masked, fields redacted, cut to size."""


class RequestAudit(NamedTuple):
    """What the request audit keeps of one call besides its usage record (a tuple: made per request)."""

    retention_days: int
    client: str | None = None
    payloads: Payloads | None = None  # sanitized mode only


# The row's columns in the order request_audit_values gives them (the id is the database's).
AUDIT_COLUMNS = (
    "request_id",
    "project_id",
    "key_id",
    "client",
    "provider",
    "model",
    "capability",
    "status",
    "error_code",
    "latency_ms",
    "payloads",
    "request_type",
    "request_bytes",
    "request_body",
    "request_truncated",
    "response_type",
    "response_bytes",
    "response_body",
    "response_truncated",
    "created_at",
    "expires_at",
)


def request_audit_values(record: UsageRecord, audit: RequestAudit) -> tuple[Any, ...]:
    """The ``request_audits`` row of a usage record's call, in ``AUDIT_COLUMNS``' order (bodies sanitized
    now, in the writer). A tuple, not a dict: one is made per request."""
    request = answer = NO_BODY
    if audit.payloads is not None:
        try:
            request, answer = audit.payloads.stored()
        except Exception:  # a body that cannot be rendered must not cost the record: keep the row without it
            log.exception("request audit: could not store the bodies of request %s", record.request_id)
            request = answer = StoredBody(None, None, "[not stored: the body could not be rendered]")
    created_at = record.created_at
    return (
        record.request_id[:128],
        record.project_id,
        record.key_id,
        audit.client[:CLIENT_LEN] if audit.client else None,
        record.provider[:255],
        record.model[:255],
        record.capability,
        record.status,
        record.error_code,
        record.latency_ms,
        "metadata" if audit.payloads is None else "sanitized",
        request.type[:TYPE_LEN] if request.type else None,
        request.bytes,
        request.text,
        request.truncated,
        answer.type[:TYPE_LEN] if answer.type else None,
        answer.bytes,
        answer.text,
        answer.truncated,
        created_at,
        created_at + timedelta(days=audit.retention_days),
    )


def request_audit_row(record: UsageRecord, audit: RequestAudit) -> dict[str, Any]:
    """``request_audit_values`` by column name."""
    return dict(zip(AUDIT_COLUMNS, request_audit_values(record, audit), strict=True))


# One row per request on SQLite (where the database runs on the service's own core): see SQLiteRows.
_SQLITE_ROWS = SQLiteRows(RequestAuditRow.__table__, AUDIT_COLUMNS)  # type: ignore[arg-type]  # a Table


async def insert_request_audits(connection: AsyncConnection, records: Sequence[UsageRecord]) -> None:
    """The request audit rows of usage records that carry one (``record.audit``)."""
    if connection.dialect.name == "sqlite":
        sqlite = _SQLITE_ROWS
        rows = [sqlite.stored(request_audit_values(r, r.audit)) for r in records if r.audit is not None]
        if rows:
            await connection.exec_driver_sql(sqlite.sql, rows)
        return
    dicts = [request_audit_row(r, r.audit) for r in records if r.audit is not None]
    if dicts:
        await connection.execute(insert(RequestAuditRow), dicts)


@dataclass(frozen=True, slots=True)
class AuditedBody:
    type: str | None
    bytes: int | None
    body: str | None
    truncated: bool


@dataclass(frozen=True, slots=True)
class RequestAuditEntry:
    id: int
    request_id: str
    project_id: str
    key_id: str | None
    client: str | None
    provider: str
    model: str
    capability: str
    status: str
    error_code: str | None
    latency_ms: float
    payloads: str
    request: AuditedBody | None  # None: a metadata row (no body was kept)
    response: AuditedBody | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which rows a read or an erasure takes; ``project_id`` None: every project (global admins)."""

    project_id: str | None
    key_id: str | None = None
    provider: str | None = None
    status: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def conditions(self) -> list[ColumnElement[bool]]:
        row = RequestAuditRow
        wanted: list[ColumnElement[bool]] = []
        for column, value in (
            (row.project_id, self.project_id),
            (row.key_id, self.key_id),
            (row.provider, self.provider),
            (row.status, self.status),
        ):
            if value is not None:
                wanted.append(column == value)
        if self.since is not None:
            wanted.append(row.created_at >= self.since)
        if self.until is not None:
            wanted.append(row.created_at < self.until)
        return wanted


class RequestAuditStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    @translate_errors
    async def list(self, which: AuditFilter, limit: int = 100) -> list[RequestAuditEntry]:
        """The rows ``which`` takes, newest first, at most ``limit``."""
        query: Select[Any] = select(RequestAuditRow).where(*which.conditions())
        query = query.order_by(RequestAuditRow.created_at.desc(), RequestAuditRow.id.desc())
        query = query.limit(max(1, min(MAX_LIMIT, limit)))
        async with self._db.session() as session:
            return [_entry(row) for row in await session.scalars(query)]

    @translate_errors
    async def erase(self, which: AuditFilter) -> int:
        """Delete every row ``which`` takes (erasure on request); how many went."""
        async with self._db.session() as session, session.begin():
            result = await session.execute(delete(RequestAuditRow).where(*which.conditions()))
        return int(getattr(result, "rowcount", 0) or 0)

    @translate_errors
    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete the rows past their retention, a batch at a time (short transactions); how many went."""
        now = now or utcnow()
        removed = 0
        while True:
            expired = select(RequestAuditRow.id).where(RequestAuditRow.expires_at < now).limit(_PURGE_BATCH)
            async with self._db.session() as session, session.begin():
                result = await session.execute(
                    delete(RequestAuditRow).where(RequestAuditRow.id.in_(expired.scalar_subquery()))
                )
            count = int(getattr(result, "rowcount", 0) or 0)
            removed += count
            if count < _PURGE_BATCH:
                return removed


def _body(row: RequestAuditRow, side: str) -> AuditedBody | None:
    if row.payloads != "sanitized":
        return None
    return AuditedBody(
        getattr(row, f"{side}_type"),
        getattr(row, f"{side}_bytes"),
        getattr(row, f"{side}_body"),
        bool(getattr(row, f"{side}_truncated")),
    )


def _entry(row: RequestAuditRow) -> RequestAuditEntry:
    return RequestAuditEntry(
        id=row.id,
        request_id=row.request_id,
        project_id=row.project_id,
        key_id=row.key_id,
        client=row.client,
        provider=row.provider,
        model=row.model,
        capability=row.capability,
        status=row.status,
        error_code=row.error_code,
        latency_ms=row.latency_ms,
        payloads=row.payloads,
        request=_body(row, "request"),
        response=_body(row, "response"),
        created_at=row.created_at,
        expires_at=row.expires_at,
    )
