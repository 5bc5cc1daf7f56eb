"""Caller limits set through the admin API, one row per subject (``storage.limit_models``).

The stored limits replace the configuration file's entry of the same subject; ``governance.live``
merges the two and applies the result to the limiter of every replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from api_connector.errors import NotFound
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.limit_models import LimitRow
from api_connector.storage.models import utcnow

SubjectKind = Literal["key", "project"]
LIMIT_FIELDS = ("requests_per_minute", "requests_per_hour", "tokens_per_minute", "concurrent")


@dataclass(frozen=True, slots=True)
class StoredLimit:
    kind: SubjectKind
    subject_id: str
    project_id: str | None
    values: dict[str, int | None]  # the LIMIT_FIELDS
    set_by_global: bool
    created_at: datetime
    updated_at: datetime


class LimitStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    @translate_errors
    async def list(self, project_id: str | None = None) -> list[StoredLimit]:
        """Every stored limit, or those of one project (its own and its keys')."""
        query = select(LimitRow).order_by(LimitRow.kind, LimitRow.subject_id)
        if project_id is not None:
            query = query.where(LimitRow.project_id == project_id)
        async with self._db.session() as session:
            return [_limit(row) for row in await session.scalars(query)]

    @translate_errors
    async def get(self, kind: SubjectKind, subject_id: str) -> StoredLimit | None:
        async with self._db.session() as session:
            row = await session.get(LimitRow, (kind, subject_id))
            return None if row is None else _limit(row)

    @translate_errors
    async def put(
        self,
        kind: SubjectKind,
        subject_id: str,
        project_id: str | None,
        values: dict[str, int | None],
        set_by_global: bool,
    ) -> tuple[StoredLimit, bool]:
        """Create or replace; True when it was created."""
        now = utcnow()
        async with self._db.session() as session, session.begin():
            row = await session.get(LimitRow, (kind, subject_id), with_for_update=True)
            created = row is None
            if row is None:
                row = LimitRow(kind=kind, subject_id=subject_id, created_at=now)
                session.add(row)
            row.project_id = project_id
            for name in LIMIT_FIELDS:
                setattr(row, name, values.get(name))
            row.set_by_global = set_by_global
            row.updated_at = now
        return _limit(row), created

    @translate_errors
    async def delete(self, kind: SubjectKind, subject_id: str) -> None:
        async with self._db.session() as session, session.begin():
            row = await session.get(LimitRow, (kind, subject_id))
            if row is None:
                raise NotFound(f"no stored limit for {kind} {subject_id!r}")
            await session.delete(row)


def _limit(row: LimitRow) -> StoredLimit:
    kind: SubjectKind = "key" if row.kind == "key" else "project"
    return StoredLimit(
        kind,
        row.subject_id,
        row.project_id,
        {name: getattr(row, name) for name in LIMIT_FIELDS},
        row.set_by_global,
        row.created_at,
        row.updated_at,
    )
