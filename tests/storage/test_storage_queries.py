"""Reading usage and audit back: filters, windows, limits, summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from api_connector.storage.db import Database
from api_connector.storage.queries import AuditQueries, UsageQueries
from api_connector.storage.record_writer import RecordWriter
from tests.storage.factories import audit, usage

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


async def _write(database: Database, *records: object) -> None:
    writer = RecordWriter(database, queue_size=100, batch_size=100, flush_interval=0.01)
    writer.start()
    for record in records:
        writer.submit(record)  # type: ignore[arg-type]
    await writer.close()


async def test_list_usage_filters_by_project_window_and_limit(database: Database) -> None:
    await _write(
        database,
        *(usage(i, created_at=T0 + timedelta(minutes=i)) for i in range(5)),
        usage(100, project="proj_b", created_at=T0),
    )
    queries = UsageQueries(database)
    rows = await queries.list_usage("proj_a")
    assert [r.request_id for r in rows] == [f"req_{i}" for i in (4, 3, 2, 1, 0)]  # newest first
    assert rows[0].created_at == T0 + timedelta(minutes=4)
    assert rows[0].created_at.tzinfo is UTC
    window = await queries.list_usage("proj_a", since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert [r.request_id for r in window] == ["req_2", "req_1"]
    assert len(await queries.list_usage("proj_a", limit=2)) == 2
    assert [r.request_id for r in await queries.list_usage("proj_b")] == ["req_100"]
    # A window given in another timezone means the same instants.
    est = T0.astimezone(timezone(timedelta(hours=-5)))
    assert len(await queries.list_usage("proj_a", since=est)) == 5


async def test_usage_summary_by_provider_and_model(database: Database) -> None:
    await _write(
        database,
        usage(1, cost_usd=0.5),
        usage(2, cost_usd=0.25, cached_tokens=3),
        usage(3, status="error", error_code="rate_limited", prompt_tokens=0, completion_tokens=0),
        usage(4, provider="anthropic-main", model="claude", latency_ms=100.0),
        usage(5, project="proj_b"),
    )
    queries = UsageQueries(database)
    summary = {(s.provider, s.model): s for s in await queries.usage_summary("proj_a")}
    openai = summary[("openai-main", "gpt-4o-mini")]
    assert (openai.requests, openai.errors) == (3, 1)
    assert (openai.prompt_tokens, openai.completion_tokens, openai.total_tokens) == (20, 10, 30)
    assert openai.cached_tokens == 3
    assert openai.cost_usd == 0.75
    anthropic = summary[("anthropic-main", "claude")]
    assert anthropic.cost_usd is None and anthropic.avg_latency_ms == 100.0
    everything = await queries.usage_summary(None)
    assert sum(s.requests for s in everything) == 5


async def test_list_audit(database: Database) -> None:
    await _write(
        database,
        audit(1, project_id="proj_a", created_at=T0),
        audit(2, project_id="proj_a", action="key.revoke", created_at=T0 + timedelta(seconds=1)),
        audit(3, project_id="proj_b", created_at=T0 + timedelta(seconds=2)),
        audit(4, created_at=T0 + timedelta(seconds=3)),
    )
    queries = AuditQueries(database)
    assert [e.target_id for e in await queries.list_audit("proj_a")] == ["key_2", "key_1"]
    assert [e.target_id for e in await queries.list_audit(None)] == ["key_4", "key_3", "key_2", "key_1"]
    revokes = await queries.list_audit(None, action="key.revoke")
    assert [e.target_id for e in revokes] == ["key_2"]
    assert revokes[0].details == {"i": 2}
    assert len(await queries.list_audit(None, limit=1)) == 1


async def test_usage_rows_and_summaries_carry_every_unit(database: Database) -> None:
    await _write(
        database,
        usage(1, capability="speech", prompt_tokens=0, completion_tokens=0, characters=1_500, audio_seconds=12.25),
        usage(2, capability="speech", prompt_tokens=0, completion_tokens=0, characters=3_000_000_000),
        usage(3, provider="crawl-main", model="crawler", capability="crawl", pages=7, rows=0, searches=2),
        usage(4, provider="crawl-main", model="crawler", capability="records", pages=0, rows=250),
    )
    queries = UsageQueries(database)
    newest = await queries.list_usage("proj_a", limit=4)
    by_id = {entry.request_id: entry for entry in newest}
    assert (by_id["req_1"].characters, by_id["req_1"].audio_seconds, by_id["req_1"].pages) == (1_500, 12.25, 0)
    assert (by_id["req_3"].pages, by_id["req_3"].searches, by_id["req_4"].rows) == (7, 2, 250)
    summary = {(s.provider, s.model): s for s in await queries.usage_summary("proj_a")}
    speech = summary[("openai-main", "gpt-4o-mini")]
    assert (speech.characters, speech.audio_seconds, speech.total_tokens) == (3_000_001_500, 12.25, 0)
    assert isinstance(speech.characters, int) and isinstance(speech.audio_seconds, float)
    crawl = summary[("crawl-main", "crawler")]
    assert (crawl.requests, crawl.pages, crawl.rows, crawl.searches, crawl.characters) == (2, 7, 250, 2, 0)
    assert (crawl.prompt_tokens, crawl.completion_tokens) == (20, 10)  # the factory's tokens, kept apart
