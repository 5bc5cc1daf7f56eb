"""Per-minute roll-ups of usage records, and the metrics and usage queries served from them.

A periodic job (and every query, first) folds the usage rows written since its watermark into
``usage_rollups``: one row per (project, minute, provider, model, capability) with counts, token and
cost sums and latency sum/max. Queries over 30 days then read at most 43,200 minutes per series
instead of every request. The fold is incremental and idempotent per batch: rows and the watermark
move in one transaction, the watermark row locked (PostgreSQL) so two replicas never fold the same rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api_connector.errors import ValidationFailed
from api_connector.observability.logging import get_logger
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import UsageRow
from api_connector.storage.rollup_models import RollupWatermarkRow, UsageRollupRow

log = get_logger("api_connector.rollups")
_WATERMARK = "usage"
_BATCH = 20_000
_UNITS = {"m": 60, "h": 3600, "d": 86400}
_RANGE = re.compile(r"^(\d+)([mhd])$")
MAX_RANGE = timedelta(days=366)


def _seconds(text: str, name: str) -> int:
    match = _RANGE.match(text.strip())
    if not match:
        raise ValidationFailed(f"{name} must look like 15m, 24h or 30d", param=name)
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_time_range(time_range: str, step: str | None) -> tuple[datetime, datetime, int]:
    """``30d`` -> (since, until, step seconds); the step defaults to about 60 points over the range."""
    span = _seconds(time_range, "time_range")
    if span <= 0 or span > MAX_RANGE.total_seconds():
        raise ValidationFailed("time_range must be between 1m and 366d", param="time_range")
    until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    since = until - timedelta(seconds=span)
    every = _seconds(step, "step") if step else max(60, (span // 60) // 60 * 60)
    return since, until, max(60, every)


@dataclass(slots=True)
class _Sum:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0


class Rollups:
    def __init__(self, database: Database, interval: float = 5.0) -> None:
        self._db = database
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-rollups")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception:  # the next round tries again; nothing is lost (the watermark did not move)
                log.warning("usage roll-up failed; retrying next round")

    @translate_errors
    async def refresh(self) -> int:
        """Fold new usage rows into the minute roll-ups; returns how many rows were folded."""
        folded = 0
        async with self._lock:
            while True:
                count = await self._fold_batch()
                folded += count
                if count < _BATCH:
                    return folded

    async def _fold_batch(self) -> int:
        async with self._db.session() as session, session.begin():
            last = await self._watermark(session)
            rows = (
                await session.execute(
                    select(
                        UsageRow.id,
                        UsageRow.project_id,
                        UsageRow.created_at,
                        UsageRow.provider,
                        UsageRow.model,
                        UsageRow.capability,
                        UsageRow.status,
                        UsageRow.prompt_tokens,
                        UsageRow.completion_tokens,
                        UsageRow.cached_tokens,
                        UsageRow.cost_usd,
                        UsageRow.latency_ms,
                    )
                    .where(UsageRow.id > last)
                    .order_by(UsageRow.id)
                    .limit(_BATCH)
                )
            ).all()
            if not rows:
                return 0
            sums: dict[tuple[str, datetime, str, str, str], _Sum] = {}
            for row in rows:
                minute = row.created_at.astimezone(UTC).replace(second=0, microsecond=0)
                key = (row.project_id, minute, row.provider, row.model, row.capability)
                s = sums.get(key)
                if s is None:
                    s = sums[key] = _Sum()
                s.requests += 1
                s.errors += row.status == "error"
                s.prompt_tokens += row.prompt_tokens
                s.completion_tokens += row.completion_tokens
                s.cached_tokens += row.cached_tokens
                if row.cost_usd is not None:
                    s.cost_usd = (s.cost_usd or 0.0) + row.cost_usd
                s.latency_ms_sum += row.latency_ms
                s.latency_ms_max = max(s.latency_ms_max, row.latency_ms)
            await self._upsert(session, sums)
            await self._set_watermark(session, rows[-1].id)
            return len(rows)

    async def _watermark(self, session: AsyncSession) -> int:
        query = select(RollupWatermarkRow.last_id).where(RollupWatermarkRow.name == _WATERMARK)
        if self._db.engine.dialect.name == "postgresql":
            query = query.with_for_update()
        found = (await session.execute(query)).scalar_one_or_none()
        if found is None:
            session.add(RollupWatermarkRow(name=_WATERMARK, last_id=0))
            await session.flush()
            return 0
        return int(found)

    @staticmethod
    async def _set_watermark(session: AsyncSession, last_id: int) -> None:
        row = await session.get(RollupWatermarkRow, _WATERMARK)
        assert row is not None
        row.last_id = last_id

    async def _upsert(self, session: AsyncSession, sums: dict[tuple[str, datetime, str, str, str], _Sum]) -> None:
        dialect = postgresql if self._db.engine.dialect.name == "postgresql" else sqlite
        values = [
            {
                "project_id": k[0],
                "minute": k[1],
                "provider": k[2],
                "model": k[3],
                "capability": k[4],
                "requests": s.requests,
                "errors": s.errors,
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": s.completion_tokens,
                "cached_tokens": s.cached_tokens,
                "cost_usd": s.cost_usd,
                "latency_ms_sum": s.latency_ms_sum,
                "latency_ms_max": s.latency_ms_max,
            }
            for k, s in sums.items()
        ]
        table = UsageRollupRow.__table__
        for start in range(0, len(values), 500):
            stmt = dialect.insert(table).values(values[start : start + 500])
            ex = stmt.excluded
            c = table.c
            stmt = stmt.on_conflict_do_update(
                index_elements=["project_id", "minute", "provider", "model", "capability"],
                set_={
                    "requests": c.requests + ex.requests,
                    "errors": c.errors + ex.errors,
                    "prompt_tokens": c.prompt_tokens + ex.prompt_tokens,
                    "completion_tokens": c.completion_tokens + ex.completion_tokens,
                    "cached_tokens": c.cached_tokens + ex.cached_tokens,
                    # NULL + x is NULL: fall back to whichever side is known (both unknown stays NULL).
                    "cost_usd": func.coalesce(c.cost_usd + ex.cost_usd, c.cost_usd, ex.cost_usd),
                    "latency_ms_sum": c.latency_ms_sum + ex.latency_ms_sum,
                    "latency_ms_max": func.max(c.latency_ms_max, ex.latency_ms_max)
                    if dialect is sqlite
                    else func.greatest(c.latency_ms_max, ex.latency_ms_max),
                },
            )
            await session.execute(stmt)

    # -- queries --------------------------------------------------------------------------------
    def _epoch(self, column: Any) -> Any:
        """Seconds since the epoch of a timestamp column, as an integer, on SQLite and PostgreSQL."""
        if self._db.engine.dialect.name == "postgresql":
            return cast(func.extract("epoch", column), BigInteger)
        return cast(func.strftime("%s", column), Integer)

    @translate_errors
    async def metrics(self, project_id: str | None, since: datetime, until: datetime, step: int) -> dict[str, Any]:
        """Totals, per-provider breakdown and a time series (``step`` seconds a point) over the range."""
        await self.refresh()
        r = UsageRollupRow
        sums = (
            func.sum(r.requests),
            func.sum(r.errors),
            func.sum(r.prompt_tokens),
            func.sum(r.completion_tokens),
            func.sum(r.cost_usd),
            func.sum(r.latency_ms_sum),
            func.max(r.latency_ms_max),
        )
        base = int(since.timestamp())
        slot = (self._epoch(r.minute) - base) // step  # integer division on both backends: the point's index
        by_minute = select(slot, *sums).where(r.minute >= since, r.minute < until).group_by(slot)
        by_provider = select(r.provider, *sums).where(r.minute >= since, r.minute < until).group_by(r.provider)
        if project_id is not None:
            by_minute = by_minute.where(r.project_id == project_id)
            by_provider = by_provider.where(r.project_id == project_id)
        async with self._db.session() as session:
            minutes = (await session.execute(by_minute)).all()
            providers = (await session.execute(by_provider.order_by(r.provider))).all()
        series: dict[int, list[Any]] = {}
        for index, *values in minutes:
            series[base + int(index) * step] = [value or 0 for value in values]
        total = [0, 0, 0, 0, 0.0, 0.0, 0.0]
        for acc in series.values():
            for i, value in enumerate(acc):
                total[i] = max(total[i], value) if i == 6 else total[i] + value
        return {
            "time_range": {"since": since.isoformat(), "until": until.isoformat(), "step_seconds": step},
            "totals": _point(total),
            "providers": [{"provider": p, **_point(list(v))} for p, *v in providers],
            "series": [
                {"at": datetime.fromtimestamp(slot, UTC).isoformat(), **_point(series[slot])} for slot in sorted(series)
            ],
        }

    @translate_errors
    async def usage_stats(
        self, project_id: str | None, provider: str | None, since: datetime, until: datetime
    ) -> dict[str, Any]:
        await self.refresh()
        r = UsageRollupRow
        query = (
            select(
                r.provider,
                r.model,
                func.sum(r.requests),
                func.sum(r.errors),
                func.sum(r.prompt_tokens),
                func.sum(r.completion_tokens),
                func.sum(r.cost_usd),
                func.sum(r.latency_ms_sum),
                func.max(r.latency_ms_max),
            )
            .where(r.minute >= since, r.minute < until)
            .group_by(r.provider, r.model)
            .order_by(r.provider, r.model)
        )
        if project_id is not None:
            query = query.where(r.project_id == project_id)
        if provider is not None:
            query = query.where(r.provider == provider)
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        data = [{"provider": p, "model": m, **_point(list(v))} for p, m, *v in rows]
        return {"time_range": {"since": since.isoformat(), "until": until.isoformat()}, "data": data}


def _point(values: list[Any]) -> dict[str, Any]:
    requests, errors, prompt, completion, cost, latency_sum, latency_max = values
    requests = int(requests or 0)
    return {
        "requests": requests,
        "errors": int(errors or 0),
        "error_rate": round(int(errors or 0) / requests, 4) if requests else 0.0,
        "prompt_tokens": int(prompt or 0),
        "completion_tokens": int(completion or 0),
        "total_tokens": int(prompt or 0) + int(completion or 0),
        "cost_usd": round(float(cost), 6) if cost else None,
        "avg_latency_ms": round(float(latency_sum or 0) / requests, 3) if requests else None,
        "max_latency_ms": round(float(latency_max or 0), 3) if requests else None,
    }
