"""Stored Responses API answers: kept per project, for ``GET``/``DELETE /v1/responses/{id}`` and
``previous_response_id``; built only when the operator turns on RESPONSES_STORE.

Every query names the project, so a project can never read, continue or delete another's responses
(its ids simply do not exist for the other). Rows expire after RESPONSES_STORE_DAYS; reads skip
expired rows, and writes sweep them out now and then (at most once every ``_SWEEP_SECONDS`` per process).
A write is awaited by the request that made the answer, so the next request can continue from it at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import NAME_LEN, utcnow
from api_connector.storage.response_models import RESPONSE_ID_LEN, StoredResponseRow

_SWEEP_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    input: list[Any]  # the input items it answered, a continued conversation's whole history included
    response: dict[str, Any]  # the response object as the caller received it


class ResponseStore:
    def __init__(self, database: Database, days: int) -> None:
        self._db = database
        self._keep = timedelta(days=days)
        self._swept = 0.0

    @translate_errors
    async def put(
        self, project_id: str, key_id: str | None, response_id: str, model: str, items: list[Any], response: Any
    ) -> None:
        """Keep (or replace: a cached answer comes back with its id) one response of ``project_id``."""
        now = utcnow()
        row = StoredResponseRow(
            project_id=project_id,
            id=response_id[:RESPONSE_ID_LEN],
            key_id=key_id,
            model=model[:NAME_LEN],
            input=items,
            response=response,
            created_at=now,
            expires_at=now + self._keep,
        )
        async with self._db.session() as session, session.begin():
            await session.merge(row)
            if time.monotonic() - self._swept > _SWEEP_SECONDS:
                self._swept = time.monotonic()
                await session.execute(delete(StoredResponseRow).where(StoredResponseRow.expires_at < now))

    @translate_errors
    async def get(self, project_id: str, response_id: str) -> StoredResponse | None:
        query = select(StoredResponseRow).where(
            StoredResponseRow.project_id == project_id,
            StoredResponseRow.id == response_id,
            StoredResponseRow.expires_at > utcnow(),
        )
        async with self._db.session() as session:
            row = await session.scalar(query)
        return None if row is None else StoredResponse(row.id, row.input, row.response)

    @translate_errors
    async def delete(self, project_id: str, response_id: str) -> bool:
        query = delete(StoredResponseRow).where(
            StoredResponseRow.project_id == project_id, StoredResponseRow.id == response_id
        )
        async with self._db.session() as session, session.begin():
            result = await session.execute(query)
        return bool(getattr(result, "rowcount", 0))
