"""Per-minute roll-ups: folding is exact and incremental; queries over 30 days of data stay fast."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

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


async def test_hours_in_the_middle_minutes_at_the_edges_add_up_exactly(database: Database) -> None:
    """A range over several hours, ends off the hour: whole hours come from the hourly table, the partial
    ones from the minute table, and every total matches the usage rows in the range."""
    db = database
    rollups = Rollups(db)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=8)
    rows = [
        _usage(i, start + timedelta(seconds=17 * i), "a" if i % 3 else "b", "error" if i % 10 == 0 else "success")
        for i in range(1500)  # about seven hours, a row every 17 s
    ]
    async with db.session() as session, session.begin():
        await session.execute(insert(UsageRow), rows)
    await rollups.refresh()
    since, until = start + timedelta(minutes=37), start + timedelta(hours=6, minutes=11)
    inside = [r for r in rows if since <= r["created_at"] < until]  # type: ignore[operator]
    metrics = await rollups.metrics("proj_a", since, until, 3600)
    totals = metrics["totals"]
    assert totals["requests"] == len(inside)
    assert totals["errors"] == sum(r["status"] == "error" for r in inside)
    assert totals["prompt_tokens"] == 10 * len(inside) and abs(totals["cost_usd"] - 0.001 * len(inside)) < 1e-9
    assert sum(point["requests"] for point in metrics["series"]) == len(inside)
    assert all(point["at"].endswith(":00:00+00:00") for point in metrics["series"])  # points on the hour
    by_provider = {p["provider"]: p["requests"] for p in metrics["providers"]}
    assert by_provider == {name: sum(r["provider"] == name for r in inside) for name in ("a", "b")}
    stats = await rollups.usage_stats("proj_a", "b", since, until)
    assert [row["requests"] for row in stats["data"]] == [by_provider["b"]]
    minutes_only = await rollups.metrics("proj_a", since, until, 1800)  # half hours: the minute table alone
    assert minutes_only["totals"] == totals


async def test_thirty_days_of_rollups_exact_and_fast(database: Database) -> None:
    """30 days x 3 providers of minute rows (129,600), the hourly ones built by migration 0006 from them."""
    db = database
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
            "latency_ms_max": 400.0 + m % 5,
        }
        for m in range(minutes)
        for p in providers
    ]
    async with db.session() as session, session.begin():
        for chunk in range(0, len(rows), 10_000):
            await session.execute(insert(UsageRollupRow), rows[chunk : chunk + 10_000])
    await db.downgrade("0005_limits")
    await db.migrate()  # 0006 fills the hourly table from the minute rows
    rollups = Rollups(db)
    since, until = start + timedelta(minutes=7), start + timedelta(days=30, minutes=-3)
    in_range = minutes - 7 - 3
    _, _, step = parse_time_range("30d", None)
    began = time.perf_counter()
    metrics = await rollups.metrics("proj_a", since, until, step)
    metrics_seconds = time.perf_counter() - began
    began = time.perf_counter()
    stats = await rollups.usage_stats("proj_a", "openai-main", since, until)
    stats_seconds = time.perf_counter() - began
    print(
        f"\n{db.dialect}: 30 days x {len(providers)} providers = {len(rows)} minute rows: get_metrics(30d) "
        f"{metrics_seconds * 1000:.0f} ms, get_usage_stats(provider, 30d) {stats_seconds * 1000:.0f} ms"
    )
    totals = metrics["totals"]
    assert totals["requests"] == 10 * len(providers) * in_range and totals["errors"] == len(providers) * in_range
    assert totals["total_tokens"] == 1500 * len(providers) * in_range and totals["max_latency_ms"] == 404.0
    assert abs(totals["cost_usd"] - 0.01 * len(providers) * in_range) < 1e-6
    assert [p["requests"] for p in metrics["providers"]] == [10 * in_range] * len(providers)
    assert sum(point["requests"] for point in metrics["series"]) == totals["requests"]
    assert step == 43_200 and len(metrics["series"]) <= 61
    assert [(row["provider"], row["requests"]) for row in stats["data"]] == [("openai-main", 10 * in_range)]
    assert metrics_seconds < 2.0 and stats_seconds < 2.0  # generous: a loaded machine must not fail it
