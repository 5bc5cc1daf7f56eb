"""Reading usage and audit records back (admin API, SDK usage stats)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select

from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import METERED, AuditRow, UsageRow

MAX_LIMIT = 1000
_WHOLE_UNITS = tuple(name for name in METERED if name != "audio_seconds")  # audio seconds are fractional


@dataclass(frozen=True, slots=True)
class UsageEntry:
    id: int
    request_id: str
    project_id: str
    key_id: str | None
    provider: str
    model: str
    capability: str
    status: str
    error_code: str | None
    prompt_tokens: int  # input tokens
    completion_tokens: int  # output tokens
    cached_tokens: int
    cost_usd: float | None
    latency_ms: float
    created_at: datetime
    cached: bool = False  # answered from the response cache (cost 0)
    coalesced: bool = False  # answered by another request's upstream call (cost on the leader's row)
    characters: int = 0
    audio_seconds: float = 0.0
    pages: int = 0
    rows: int = 0
    searches: int = 0


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Totals for one (provider, model) pair."""

    provider: str
    model: str
    requests: int
    errors: int
    prompt_tokens: int  # input tokens
    completion_tokens: int  # output tokens
    cached_tokens: int
    total_tokens: int
    cost_usd: float | None  # None when no request of this pair had a known cost
    avg_latency_ms: float
    characters: int = 0
    audio_seconds: float = 0.0
    pages: int = 0
    rows: int = 0
    searches: int = 0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    request_id: str | None
    actor_key_id: str | None
    project_id: str | None
    action: str
    target_type: str
    target_id: str | None
    outcome: str
    details: dict[str, Any]
    created_at: datetime


def _clamp(limit: int) -> int:
    return max(1, min(MAX_LIMIT, limit))


def _window(query: Select[Any], column: Any, since: datetime | None, until: datetime | None) -> Select[Any]:
    # since inclusive, until exclusive: consecutive windows neither overlap nor leave gaps.
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


class UsageQueries:
    def __init__(self, database: Database) -> None:
        self._db = database

    @translate_errors
    async def list_usage(
        self,
        project_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[UsageEntry]:
        """A project's usage records, newest first."""
        query = select(UsageRow).where(UsageRow.project_id == project_id)
        query = _window(query, UsageRow.created_at, since, until)
        query = query.order_by(UsageRow.created_at.desc(), UsageRow.id.desc()).limit(_clamp(limit))
        async with self._db.session() as session:
            return [_usage(row) for row in await session.scalars(query)]

    @translate_errors
    async def usage_summary(
        self,
        project_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[UsageSummary]:
        """Per provider and model: requests, errors, every metered unit, cost; one project or all of them."""
        columns = UsageRow.__table__.c
        answered: list[Any] = [
            UsageRow.provider,
            UsageRow.model,
            func.count().label("requests"),
            func.sum(case((UsageRow.status == "error", 1), else_=0)).label("errors"),
            *(func.sum(columns[name]).label(name) for name in METERED),
            func.sum(UsageRow.cost_usd).label("cost_usd"),
            func.avg(UsageRow.latency_ms).label("avg_latency_ms"),
        ]
        query = select(*answered).group_by(UsageRow.provider, UsageRow.model)
        if project_id is not None:
            query = query.where(UsageRow.project_id == project_id)
        query = _window(query, UsageRow.created_at, since, until).order_by(UsageRow.provider, UsageRow.model)
        async with self._db.session() as session:
            rows = [row._mapping for row in await session.execute(query)]
        summaries = []
        for row in rows:
            # PostgreSQL returns bigint/numeric aggregates; normalise to plain int/float.
            units = {name: int(row[name] or 0) for name in _WHOLE_UNITS}
            cost = row["cost_usd"]
            summaries.append(
                UsageSummary(
                    provider=row["provider"],
                    model=row["model"],
                    requests=int(row["requests"]),
                    errors=int(row["errors"] or 0),
                    total_tokens=units["prompt_tokens"] + units["completion_tokens"],
                    cost_usd=None if cost is None else float(cost),
                    avg_latency_ms=float(row["avg_latency_ms"] or 0.0),
                    audio_seconds=float(row["audio_seconds"] or 0.0),
                    **units,
                )
            )
        return summaries

    @translate_errors
    async def spend_since(self, since: datetime) -> list[tuple[str, str | None, float]]:
        """Cost in USD per (project, key) of the records since a time (budgets rebuilt at start-up)."""
        query = (
            select(UsageRow.project_id, UsageRow.key_id, func.sum(UsageRow.cost_usd))
            .where(UsageRow.created_at >= since, UsageRow.cost_usd.is_not(None))
            .group_by(UsageRow.project_id, UsageRow.key_id)
        )
        async with self._db.session() as session:
            return [(project, key, float(total or 0)) for project, key, total in await session.execute(query)]


class AuditQueries:
    def __init__(self, database: Database) -> None:
        self._db = database

    @translate_errors
    async def list_audit(
        self,
        project_id: str | None,
        action: str | None = None,
        limit: int = 100,
        since: datetime | None = None,
        credential_id: str | None = None,
        *,
        unowned: bool = False,
    ) -> list[AuditEntry]:
        """Audit events, newest first: one project's, or every event when ``project_id`` is None, or with
        ``unowned`` only the events of no project (the operator's: master-key rotation, organizations)."""
        query = select(AuditRow)
        if unowned:
            query = query.where(AuditRow.project_id.is_(None))
        elif project_id is not None:
            query = query.where(AuditRow.project_id == project_id)
        if action is not None:
            query = query.where(AuditRow.action == action)
        if credential_id is not None:
            query = query.where(AuditRow.target_type == "credential", AuditRow.target_id == credential_id)
        query = _window(query, AuditRow.created_at, since, None)
        query = query.order_by(AuditRow.created_at.desc(), AuditRow.id.desc()).limit(_clamp(limit))
        async with self._db.session() as session:
            return [_audit(row) for row in await session.scalars(query)]


def _usage(row: UsageRow) -> UsageEntry:
    return UsageEntry(
        id=row.id,
        request_id=row.request_id,
        project_id=row.project_id,
        key_id=row.key_id,
        provider=row.provider,
        model=row.model,
        capability=row.capability,
        status=row.status,
        error_code=row.error_code,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cached_tokens=row.cached_tokens,
        cost_usd=row.cost_usd,
        latency_ms=row.latency_ms,
        created_at=row.created_at,
        cached=row.cached,
        coalesced=row.coalesced,
        characters=row.characters,
        audio_seconds=row.audio_seconds,
        pages=row.pages,
        rows=row.rows,
        searches=row.searches,
    )


def _audit(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        request_id=row.request_id,
        actor_key_id=row.actor_key_id,
        project_id=row.project_id,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        outcome=row.outcome,
        details=row.details,
        created_at=row.created_at,
    )
