"""Per-minute roll-ups: folding is exact and incremental; queries over 30 days of data stay fast."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from api_connector.observability.rollups import Rollups, parse_time_range
from api_connector.storage.db import Database
from api_connector.storage.models import UsageRow
from api_connector.storage.rollup_models import UsageRollupRow


def _usage(i: int, at: datetime, provider: str, status: str = "success") -> dict[str, object]:
    return {
        "request_id": f"r{i}",
        "project_id": "proj_a",
        "key_id": None,
        "provider": provider,
        "model": "m",
        "capability": "chat",
        "status": status,
        "error_code": None if status == "success" else "timeout",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cached_tokens": 0,
        "cost_usd": 0.001,
        "latency_ms": 100.0 + i % 7,
        "created_at": at,
    }


async def test_fold_is_exact_and_incremental(database: Database) -> None:
    """On SQLite and PostgreSQL (the upserts and the epoch arithmetic differ between them)."""
    db = database
    rollups = Rollups(db)
    now = datetime.now(UTC) - timedelta(minutes=5)
    rows = [
        _usage(i, now + timedelta(seconds=i), "a" if i % 3 else "b", "error" if i % 10 == 0 else "success")
        for i in range(300)
    ]
    async with db.session() as session, session.begin():
        await session.execute(insert(UsageRow), rows[:200])
    assert await rollups.refresh() == 200
    async with db.session() as session, session.begin():
        await session.execute(insert(UsageRow), rows[200:])
    assert await rollups.refresh() == 100 and await rollups.refresh() == 0
    since, until, step = parse_time_range("1h", None)
    metrics = await rollups.metrics("proj_a", since, until, step)
    totals = metrics["totals"]
    assert totals["requests"] == 300 and totals["errors"] == 30 and totals["prompt_tokens"] == 3000
    assert abs(totals["cost_usd"] - 0.3) < 1e-9 and totals["max_latency_ms"] == 106.0
    stats = await rollups.usage_stats("proj_a", "b", since, until)
    assert [row["requests"] for row in stats["data"]] == [100]
    assert (await rollups.usage_stats("other", None, since, until))["data"] == []


async def test_thirty_days_of_rollups_answer_fast(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await db.migrate()
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=30)
    providers = ("openai-main", "anthropic-main", "groq-main")
    minutes = 30 * 24 * 60
    rows = [
        {
            "project_id": "proj_a",
            "minute": start + timedelta(minutes=m),
            "provider": p,
            "model": "m",
            "capability": "chat",
            "requests": 10,
            "errors": 1,
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "cached_tokens": 0,
            "cost_usd": 0.01,
            "latency_ms_sum": 1500.0,
            "latency_ms_max": 400.0,
        }
        for m in range(minutes)
        for p in providers
    ]
    async with db.session() as session, session.begin():
        for chunk in range(0, len(rows), 20_000):
            await session.execute(insert(UsageRollupRow), rows[chunk : chunk + 20_000])
    rollups = Rollups(db)
    since, until, step = parse_time_range("30d", None)
    began = time.perf_counter()
    metrics = await rollups.metrics("proj_a", since, until, step)
    metrics_seconds = time.perf_counter() - began
    began = time.perf_counter()
    stats = await rollups.usage_stats("proj_a", "openai-main", since, until)
    stats_seconds = time.perf_counter() - began
    print(
        f"\n30 days x {len(providers)} providers = {len(rows)} minute rows: get_metrics(30d) "
        f"{metrics_seconds * 1000:.0f} ms, get_usage_stats(provider, 30d) {stats_seconds * 1000:.0f} ms"
    )
    assert metrics["totals"]["requests"] >= 10 * len(providers) * (minutes - 2)
    assert len(metrics["series"]) <= 61 and stats["data"][0]["provider"] == "openai-main"
    assert metrics_seconds < 2.0 and stats_seconds < 2.0
    await db.close()
