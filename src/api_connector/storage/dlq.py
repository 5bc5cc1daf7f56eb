"""The dead-letter queue: requests that failed on every target, kept for inspection and replay.

Entries are written by the batch writer (``DeadLetterRecord``), never waited on by a request; this
store reads them back, records replays and deletes them. Every query is filtered by project when one
is given (a global admin may pass None to see every project's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from api_connector.errors import NotFound
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import utcnow
from api_connector.storage.routing_models import MESSAGE_LEN, DeadLetterRow

PENDING = "pending"
REPLAYED = "replayed"
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One dead letter as the request path hands it to the batch writer."""

    id: str
    request_id: str
    project_id: str
    key_id: str | None
    kind: str
    capability: str
    target: str
    error_code: str
    error_message: str
    payload: dict[str, Any] = field(hash=False)
    attempts: list[dict[str, Any]] = field(hash=False)
    created_at: datetime = field(default_factory=utcnow)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id[:128],
            "project_id": self.project_id,
            "key_id": self.key_id,
            "kind": self.kind,
            "capability": self.capability,
            "target": self.target[:255],
            "error_code": self.error_code,
            "error_message": self.error_message[:MESSAGE_LEN],
            "payload": self.payload,
            "attempts": self.attempts,
            "status": PENDING,
            "replays": 0,
            "last_replay_at": None,
            "last_replay_outcome": None,
            "last_replay_request_id": None,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    request_id: str
    project_id: str
    key_id: str | None
    kind: str
    capability: str
    target: str
    error_code: str
    error_message: str
    payload: dict[str, Any] = field(hash=False)
    attempts: list[dict[str, Any]] = field(hash=False)
    status: str = PENDING
    replays: int = 0
    last_replay_at: datetime | None = None
    last_replay_outcome: str | None = None
    last_replay_request_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)


class DeadLetterStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    @translate_errors
    async def list(
        self, project_id: str | None, *, status: str | None = None, limit: int = 100, before: datetime | None = None
    ) -> list[DeadLetter]:
        """Newest first; ``before`` pages back from a previous page's last ``created_at``."""
        query = select(DeadLetterRow)
        if project_id is not None:
            query = query.where(DeadLetterRow.project_id == project_id)
        if status is not None:
            query = query.where(DeadLetterRow.status == status)
        if before is not None:
            query = query.where(DeadLetterRow.created_at < before)
        query = query.order_by(DeadLetterRow.created_at.desc(), DeadLetterRow.id).limit(max(1, min(MAX_LIMIT, limit)))
        async with self._db.session() as session:
            return [_entry(row) for row in await session.scalars(query)]

    @translate_errors
    async def count(self, project_id: str | None, status: str | None = None) -> int:
        query = select(func.count()).select_from(DeadLetterRow)
        if project_id is not None:
            query = query.where(DeadLetterRow.project_id == project_id)
        if status is not None:
            query = query.where(DeadLetterRow.status == status)
        async with self._db.session() as session:
            return int(await session.scalar(query) or 0)

    @translate_errors
    async def get(self, project_id: str | None, entry_id: str) -> DeadLetter:
        query = select(DeadLetterRow).where(DeadLetterRow.id == entry_id)
        if project_id is not None:
            query = query.where(DeadLetterRow.project_id == project_id)
        async with self._db.session() as session:
            row = await session.scalar(query)
        if row is None:
            raise NotFound(f"dead letter {entry_id!r} not found")
        return _entry(row)

    @translate_errors
    async def record_replay(self, entry_id: str, outcome: str, request_id: str) -> None:
        values: dict[str, Any] = {
            "replays": DeadLetterRow.replays + 1,
            "last_replay_at": utcnow(),
            "last_replay_outcome": outcome[:64],
            "last_replay_request_id": request_id[:128],
        }
        if outcome == "success":
            values["status"] = REPLAYED
        async with self._db.session() as session, session.begin():
            await session.execute(update(DeadLetterRow).where(DeadLetterRow.id == entry_id).values(**values))

    @translate_errors
    async def delete(self, project_id: str | None, entry_id: str) -> None:
        query = delete(DeadLetterRow).where(DeadLetterRow.id == entry_id)
        if project_id is not None:
            query = query.where(DeadLetterRow.project_id == project_id)
        async with self._db.session() as session, session.begin():
            result = await session.execute(query)
        if not getattr(result, "rowcount", 0):
            raise NotFound(f"dead letter {entry_id!r} not found")


def _entry(row: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        request_id=row.request_id,
        project_id=row.project_id,
        key_id=row.key_id,
        kind=row.kind,
        capability=row.capability,
        target=row.target,
        error_code=row.error_code,
        error_message=row.error_message,
        payload=row.payload,
        attempts=row.attempts,
        status=row.status,
        replays=row.replays,
        last_replay_at=row.last_replay_at,
        last_replay_outcome=row.last_replay_outcome,
        last_replay_request_id=row.last_replay_request_id,
        created_at=row.created_at,
    )
