"""The request audit: what a usage record brings to the batch writer, and reading it back.

A request's metadata is its usage row, which in ``metadata`` and ``sanitized`` modes also carries the
caller's address (``usage_records.client``). A call of a ``sanitized`` project hands its usage record a
``RequestAudit`` (one small tuple) too; the batch writer turns it into a ``request_audits`` row of bodies
in the same transaction as the usage row. Reads join the two; a request is listed while the audit keeps
something of it (its caller's address or its bodies). Bodies come as ``Payloads``: what the pipeline
already held (the typed request, the answer or the pieces of a stream), made into stored text only here,
off the request path, by the implementation the recorder provides (secrets masked, fields redacted, cut
to size).

Every read and erasure names its project (or, for a global admin's ``scope=all``, every project), so a
project never sees or erases another's rows.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import UsageRow, utcnow
from api_connector.storage.request_audit_models import TYPE_LEN, RequestAuditRow
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
    """The bodies a ``sanitized`` call keeps beside its usage record (a tuple: made per request)."""

    retention_days: int
    payloads: Payloads


# The row's columns in the order request_audit_values gives them (the id is the database's). Only what
# the usage row lacks: the metadata of the request is the usage row, joined on the first two and the last
# but one (created_at, the usage row's own value).
AUDIT_COLUMNS = (
    "request_id",
    "project_id",
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
    try:
        request, answer = audit.payloads.stored()
    except Exception:  # a body that cannot be rendered must not cost the record: keep the row without it
        log.exception("request audit: could not store the bodies of request %s", record.request_id)
        request = answer = StoredBody(None, None, "[not stored: the body could not be rendered]")
    created_at = record.created_at
    return (
        record.request_id[:128],  # as usage_insert cuts it: the join must find it
        record.project_id,
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
    """The bodies rows of usage records that carry them (``record.audit``: sanitized mode only)."""
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
    """Which requests a read or an erasure takes; ``project_id`` None: every project (global admins)."""

    project_id: str | None
    key_id: str | None = None
    provider: str | None = None
    status: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def conditions(self) -> list[ColumnElement[bool]]:
        """On the usage rows: every filter names a column of the request's metadata."""
        row = UsageRow
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


# A usage row's bodies: the row of the same project, request id and timestamp (see request_audit_models).
_BODIES_OF_USAGE = and_(
    RequestAuditRow.project_id == UsageRow.project_id,
    RequestAuditRow.request_id == UsageRow.request_id,
    RequestAuditRow.created_at == UsageRow.created_at,
)
# What the audit kept of a request: the caller's address, or its bodies (after retention or an erasure
# neither is left, and the usage row is the usage log's alone).
_AUDITED = or_(UsageRow.client.is_not(None), RequestAuditRow.id.is_not(None))


class RequestAuditStore:
    def __init__(self, database: Database, retention_days: Callable[[str], int]) -> None:
        self._db = database
        self._retention_days = retention_days  # a project's, for the expiry of what a metadata row keeps

    @translate_errors
    async def list(self, which: AuditFilter, limit: int = 100) -> list[RequestAuditEntry]:
        """The audited requests ``which`` takes, newest first, at most ``limit``."""
        query = (
            select(UsageRow, RequestAuditRow)
            .outerjoin(RequestAuditRow, _BODIES_OF_USAGE)
            .where(*which.conditions(), _AUDITED)
            .order_by(UsageRow.created_at.desc(), UsageRow.id.desc())
            .limit(max(1, min(MAX_LIMIT, limit)))
        )
        async with self._db.session() as session:
            return [self._entry(usage, bodies) for usage, bodies in await session.execute(query)]

    @translate_errors
    async def erase(self, which: AuditFilter) -> int:
        """Erase what the audit kept of every request ``which`` takes (erasure on request): their bodies
        deleted, their caller's address cleared. How many requests had anything to erase."""
        conditions = which.conditions()
        async with self._db.engine.begin() as connection:
            counted = select(func.count()).select_from(UsageRow).outerjoin(RequestAuditRow, _BODIES_OF_USAGE)
            erased = int(await connection.scalar(counted.where(*conditions, _AUDITED)) or 0)
            if erased:
                of_taken_requests = select(UsageRow.id).where(_BODIES_OF_USAGE, *conditions).exists()
                await connection.execute(delete(RequestAuditRow).where(of_taken_requests))
                await connection.execute(
                    update(UsageRow).where(*conditions, UsageRow.client.is_not(None)).values(client=None)
                )
        return erased

    @translate_errors
    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete the bodies past their retention, a batch at a time (short transactions); how many went."""
        now = now or utcnow()
        removed = 0
        while True:
            expired = select(RequestAuditRow.id).where(RequestAuditRow.expires_at < now).limit(_PURGE_BATCH)
            async with self._db.engine.begin() as connection:
                result = await connection.execute(
                    delete(RequestAuditRow).where(RequestAuditRow.id.in_(expired.scalar_subquery()))
                )
            count = int(getattr(result, "rowcount", 0) or 0)
            removed += count
            if count < _PURGE_BATCH:
                return removed

    @translate_errors
    async def forget_clients(
        self,
        before: datetime,
        *,
        since: datetime | None = None,
        project_id: str | None = None,
        other_than: Sequence[str] = (),
    ) -> int:
        """Clear the caller's address of usage rows written before ``before`` (and at or after ``since``),
        of one project or of every project but ``other_than``; a batch at a time. How many were cleared."""
        taken = [UsageRow.client.is_not(None), UsageRow.created_at < before]
        if since is not None:
            taken.append(UsageRow.created_at >= since)
        if project_id is not None:
            taken.append(UsageRow.project_id == project_id)
        elif other_than:
            taken.append(UsageRow.project_id.not_in(other_than))
        cleared = 0
        while True:
            batch = select(UsageRow.id).where(*taken).limit(_PURGE_BATCH)
            async with self._db.engine.begin() as connection:
                result = await connection.execute(
                    update(UsageRow).where(UsageRow.id.in_(batch.scalar_subquery())).values(client=None)
                )
            count = int(getattr(result, "rowcount", 0) or 0)
            cleared += count
            if count < _PURGE_BATCH:
                return cleared

    def _entry(self, usage: UsageRow, bodies: RequestAuditRow | None) -> RequestAuditEntry:
        created_at = usage.created_at
        return RequestAuditEntry(
            id=usage.id,
            request_id=usage.request_id,
            project_id=usage.project_id,
            key_id=usage.key_id,
            client=usage.client,
            provider=usage.provider,
            model=usage.model,
            capability=usage.capability,
            status=usage.status,
            error_code=usage.error_code,
            latency_ms=usage.latency_ms,
            payloads="metadata" if bodies is None else "sanitized",
            request=_body(bodies, "request"),
            response=_body(bodies, "response"),
            created_at=created_at,
            # The bodies' own expiry; the address's is the project's retention from the request on.
            expires_at=bodies.expires_at
            if bodies is not None
            else created_at + timedelta(days=self._retention_days(usage.project_id)),
        )


def _body(row: RequestAuditRow | None, side: str) -> AuditedBody | None:
    if row is None:
        return None
    return AuditedBody(
        getattr(row, f"{side}_type"),
        getattr(row, f"{side}_bytes"),
        getattr(row, f"{side}_body"),
        bool(getattr(row, f"{side}_truncated")),
    )
