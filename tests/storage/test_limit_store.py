"""Stored caller limits and the spend read back for budgets, on SQLite and PostgreSQL; migration 0005
goes down and up again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api_connector.errors import NotFound
from api_connector.storage.db import Database
from api_connector.storage.limit_store import LimitStore
from api_connector.storage.queries import UsageQueries
from api_connector.storage.record_writer import RecordWriter, UsageRecord


async def test_limits_are_created_replaced_listed_by_project_and_deleted(database: Database) -> None:
    store = LimitStore(database)
    values = {"requests_per_minute": 10, "requests_per_hour": None, "tokens_per_minute": 5000, "concurrent": None}
    stored, created = await store.put("key", "key_a", "proj_1", values, set_by_global=False)
    assert created and stored.values == values and not stored.set_by_global
    _, created = await store.put("key", "key_a", "proj_1", {**values, "concurrent": 3}, set_by_global=True)
    assert not created
    await store.put("project", "proj_2", "proj_2", {"concurrent": 1}, set_by_global=True)
    again = await store.get("key", "key_a")
    assert again is not None and again.values["concurrent"] == 3 and again.set_by_global
    assert [(s.kind, s.subject_id) for s in await store.list("proj_1")] == [("key", "key_a")]
    assert len(await store.list()) == 2
    await store.delete("key", "key_a")
    assert await store.get("key", "key_a") is None
    with pytest.raises(NotFound):
        await store.delete("key", "key_a")


async def test_spend_since_sums_costs_per_project_and_key(database: Database) -> None:
    writer = RecordWriter(database, flush_interval=0.01)
    writer.start()
    now = datetime.now(UTC)
    for key, cost, when, cached in (
        ("key_a", 0.5, now, False),
        ("key_a", 0.25, now, False),
        ("key_b", 1.0, now, False),
        ("key_a", 9.0, now - timedelta(days=40), False),  # before the period
        ("key_a", 0.0, now, True),  # a cache hit: recorded, costs nothing
        (None, None, now, False),  # unpriced
    ):
        writer.submit(
            UsageRecord(
                "r", "proj", "p", "m", "chat", "success", key_id=key, cost_usd=cost, created_at=when, cached=cached
            )
        )
    await writer.close()
    rows = await UsageQueries(database).spend_since(now - timedelta(days=1))
    assert sorted(rows, key=lambda r: str(r[1])) == [("proj", "key_a", pytest.approx(0.75)), ("proj", "key_b", 1.0)]


async def test_migration_0005_goes_down_and_up(database: Database) -> None:
    head = await database.current_revision()
    await database.downgrade("0004_usage_rollups")
    assert await database.current_revision() == "0004_usage_rollups"
    await database.migrate()
    assert await database.current_revision() == head
    await LimitStore(database).put("project", "p", "p", {"concurrent": 1}, set_by_global=True)
