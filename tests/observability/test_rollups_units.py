"""The roll-ups sum every unit (characters, audio seconds, pages, rows, searches, cached tokens), not just
tokens: folded incrementally into both tables, and answered per point, per provider and per model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from api_connector.observability.rollups import Rollups
from api_connector.storage.db import Database
from api_connector.storage.models import UsageRow

UNITS = ("cached_tokens", "characters", "audio_seconds", "pages", "rows", "searches")


def _usage(i: int, at: datetime) -> dict[str, object]:
    """Alternately a speech call (characters, audio) and a crawl-then-store call (pages, rows, searches)."""
    speech = i % 2 == 0
    return {
        "request_id": f"r{i}",
        "project_id": "proj_a",
        "key_id": None,
        "provider": "speech-main" if speech else "crawl-main",
        "model": "m",
        "capability": "speech" if speech else "crawl",
        "status": "success",
        "error_code": None,
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "cached_tokens": 2,
        "cost_usd": 0.002,
        "latency_ms": 50.0,
        "created_at": at,
        "characters": 1_000 + i if speech else 0,
        "audio_seconds": 1.5 if speech else 0.0,
        "pages": 0 if speech else 4,
        "rows": 0 if speech else 100,
        "searches": 0 if speech else 1,
    }


def _expected(rows: list[dict[str, object]]) -> dict[str, float]:
    return {unit: sum(r[unit] for r in rows) for unit in UNITS}  # type: ignore[misc]


async def test_fold_and_queries_sum_every_unit(database: Database) -> None:
    """On SQLite and PostgreSQL; the second fold lands on the same minutes and hours (the upsert path)."""
    rollups = Rollups(database)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    rows = [_usage(i, start + timedelta(seconds=31 * i)) for i in range(400)]  # about three and a half hours
    for part in (rows[0::2][:100] + rows[1::2][:100], rows[0::2][100:] + rows[1::2][100:]):
        async with database.session() as session, session.begin():
            await session.execute(insert(UsageRow), part)
        assert await rollups.refresh() == 200
    until = start + timedelta(hours=4)
    hourly = await rollups.metrics("proj_a", start, until, 3600)  # whole hours: the hourly table
    minutes = await rollups.metrics("proj_a", start, until, 1800)  # half hours: the minute table
    expected = _expected(rows)
    for answer in (hourly, minutes):
        totals = answer["totals"]
        assert {unit: totals[unit] for unit in UNITS} == expected
        assert totals["requests"] == 400 and totals["prompt_tokens"] == 2800 and totals["completion_tokens"] == 1200
        assert totals["total_tokens"] == 4000
        for unit in UNITS:
            assert sum(point[unit] for point in answer["series"]) == expected[unit]
        by_provider = {p["provider"]: p for p in answer["providers"]}
        speech = _expected([r for r in rows if r["provider"] == "speech-main"])
        crawl = _expected([r for r in rows if r["provider"] == "crawl-main"])
        assert {unit: by_provider["speech-main"][unit] for unit in UNITS} == speech
        assert {unit: by_provider["crawl-main"][unit] for unit in UNITS} == crawl
    assert isinstance(hourly["totals"]["audio_seconds"], float) and isinstance(hourly["totals"]["pages"], int)
    stats = await rollups.usage_stats("proj_a", "crawl-main", start, until)
    assert [(row["provider"], row["pages"], row["rows"], row["searches"]) for row in stats["data"]] == [
        ("crawl-main", 800, 20_000, 200)
    ]
    assert stats["data"][0]["characters"] == 0 and stats["data"][0]["audio_seconds"] == 0.0


async def test_an_empty_range_answers_zero_in_every_unit(database: Database) -> None:
    rollups = Rollups(database)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    metrics = await rollups.metrics("proj_a", now - timedelta(hours=1), now, 60)
    assert metrics["series"] == [] and metrics["providers"] == []
    assert {unit: metrics["totals"][unit] for unit in UNITS} == dict.fromkeys(UNITS, 0)
    assert metrics["totals"]["cost_usd"] is None and metrics["totals"]["avg_latency_ms"] is None
