"""The whole service on each database: requests flow, and every usage and audit record lands.

Records go through the batch writer, never awaited on the request path; a graceful stop flushes them.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from tests.gateway import run_gateway

from api_connector.storage.db import Database
from api_connector.storage.models import AuditRow, UsageRow

REQUESTS = 300


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
    return str(request.getfixturevalue("postgres_url"))


async def _count(url: str, since_id: int) -> tuple[int, int]:
    database = Database(url)
    try:
        async with database.session() as session:
            usage = await session.scalar(select(func.count()).where(UsageRow.id > since_id))
            audit = await session.scalar(select(func.count()).select_from(AuditRow))
            return int(usage or 0), int(audit or 0)
    finally:
        await database.close()


async def _max_usage_id(url: str) -> int:
    database = Database(url)
    try:
        await database.migrate()
        async with database.session() as session:
            return int(await session.scalar(select(func.max(UsageRow.id))) or 0)
    finally:
        await database.close()


async def test_every_record_arrives(tmp_path: Path, database_url: str) -> None:
    before = await _max_usage_id(database_url)
    _, audit_before = await _count(database_url, before)
    chat = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "count me"}]}
    with run_gateway(tmp_path, database_url=database_url, record_batch_size=50) as gateway:
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
            for _ in range(REQUESTS - 1):
                assert (await http.post("/v1/chat/completions", json=chat)).status_code == 200
            failed = await http.post("/v1/chat/completions", json=chat, headers={"x-sandbox-status": "400"})
            assert failed.status_code == 400
            created = await http.post("/admin/keys", json={"name": "audited"})
            assert created.status_code == 201
    usage, audit = await _count(database_url, before)
    assert usage == REQUESTS
    assert audit == audit_before + 1
