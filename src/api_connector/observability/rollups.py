"""Per-minute and per-hour roll-ups of usage records, and the metrics and usage queries served from them.

A periodic job (and every query, first) folds the usage rows written since its watermark into
``usage_rollups``: one row per (project, minute, provider, model, capability) with counts, token and
cost sums and latency sum/max, and the same sums per hour into ``usage_rollups_hourly``. A query over
a range of at least two hours reads its whole hours from the hourly table and only the partial hours
at either end from the minute one (30 days: about 720 rows a series instead of 43,200), with series
points on hour boundaries so that both kinds of rows fall wholly into one point. The fold is
incremental and idempotent per batch: both tables and the watermark move in one transaction, the
watermark row locked (PostgreSQL) so two replicas never fold the same rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, cast, func, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api_connector.errors import ValidationFailed
from api_connector.observability.logging import get_logger
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import UsageRow
from api_connector.storage.rollup_models import RollupWatermarkRow, UsageRollupHourRow, UsageRollupRow

log = get_logger("api_connector.rollups")
_WATERMARK = "usage"
_BATCH = 20_000
_UNITS = {"m": 60, "h": 3600, "d": 86400}
_RANGE = re.compile(r"^(\d+)([mhd])$")
MAX_RANGE = timedelta(days=366)
_HOUR = 3600
_Key = tuple[str, datetime, str, str, str]  # project, minute or hour, provider, model, capability


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
    if step:
        every = _seconds(step, "step")
    else:
        every = max(60, (span // 60) // 60 * 60)
        if every > _HOUR:  # whole hours: long ranges are then answered from the hourly roll-ups
            every = -(-every // _HOUR) * _HOUR
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

    def merge(self, other: _Sum) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens
        if other.cost_usd is not None:  # unknown stays unknown only while every part is
            self.cost_usd = (self.cost_usd or 0.0) + other.cost_usd
        self.latency_ms_sum += other.latency_ms_sum
        self.latency_ms_max = max(self.latency_ms_max, other.latency_ms_max)


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
            sums: dict[_Key, _Sum] = {}
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
            await self._upsert(session, UsageRollupRow, "minute", sums)
            await self._upsert(session, UsageRollupHourRow, "hour", _hours(sums))
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

    async def _upsert(
        self, session: AsyncSession, row: type[UsageRollupRow | UsageRollupHourRow], at: str, sums: dict[_Key, _Sum]
    ) -> None:
        dialect = postgresql if self._db.engine.dialect.name == "postgresql" else sqlite
        values = [
            {
                "project_id": k[0],
                at: k[1],
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
        table = row.__table__
        for start in range(0, len(values), 500):
            stmt = dialect.insert(table).values(values[start : start + 500])
            ex = stmt.excluded
            c = table.c
            stmt = stmt.on_conflict_do_update(
                index_elements=["project_id", at, "provider", "model", "capability"],
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

    @staticmethod
    def _source(
        project_id: str | None, provider: str | None, since: datetime, until: datetime, hours: bool
    ) -> tuple[Any, bool]:
        """The roll-up rows covering [since, until) as one subquery (at, provider, model, sums...): with
        ``hours``, whole hours from the hourly table and the partial ones at either end from the minute
        table. Also says whether hourly rows are in it (series points must then sit on hour boundaries)."""
        first, last = _ceil_hour(since), _floor_hour(until)
        if not hours or last <= first:
            return _rows(UsageRollupRow, UsageRollupRow.minute, project_id, provider, since, until).subquery(), False
        parts = [_rows(UsageRollupHourRow, UsageRollupHourRow.hour, project_id, provider, first, last)]
        for lo, hi in ((since, first), (last, until)):
            if lo < hi:
                parts.append(_rows(UsageRollupRow, UsageRollupRow.minute, project_id, provider, lo, hi))
        return union_all(*parts).subquery(), True

    @translate_errors
    async def metrics(self, project_id: str | None, since: datetime, until: datetime, step: int) -> dict[str, Any]:
        """Totals, per-provider breakdown and a time series (``step`` seconds a point) over the range."""
        await self.refresh()
        r, hourly = self._source(project_id, None, since, until, hours=step % _HOUR == 0)
        sums = _sums(r.c)
        base = int((_floor_hour(since) if hourly else since).timestamp())
        slot = (self._epoch(r.c.at) - base) // step  # integer division on both backends: the point's index
        by_slot = select(slot, *sums).group_by(slot)
        by_provider = select(r.c.provider, *sums).group_by(r.c.provider).order_by(r.c.provider)
        async with self._db.session() as session:
            slots = (await session.execute(by_slot)).all()
            providers = (await session.execute(by_provider)).all()
        series: dict[int, list[Any]] = {}
        for index, *values in slots:
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
        r, _ = self._source(project_id, provider, since, until, hours=True)
        query = (
            select(r.c.provider, r.c.model, *_sums(r.c))
            .group_by(r.c.provider, r.c.model)
            .order_by(r.c.provider, r.c.model)
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        data = [{"provider": p, "model": m, **_point(list(v))} for p, m, *v in rows]
        return {"time_range": {"since": since.isoformat(), "until": until.isoformat()}, "data": data}


def _floor_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(at: datetime) -> datetime:
    floor = _floor_hour(at)
    return floor if floor == at else floor + timedelta(hours=1)


def _rows(
    row: type[UsageRollupRow | UsageRollupHourRow],
    at: Any,
    project_id: str | None,
    provider: str | None,
    since: datetime,
    until: datetime,
) -> Select[Any]:
    """One table's roll-up rows in [since, until), filtered where its indexes can help."""
    query = select(
        at.label("at"),
        row.provider,
        row.model,
        row.requests,
        row.errors,
        row.prompt_tokens,
        row.completion_tokens,
        row.cost_usd,
        row.latency_ms_sum,
        row.latency_ms_max,
    ).where(at >= since, at < until)
    if project_id is not None:
        query = query.where(row.project_id == project_id)
    if provider is not None:
        query = query.where(row.provider == provider)
    return query


def _sums(c: Any) -> tuple[Any, ...]:
    """The aggregates every query answers, in ``_point``'s order."""
    return (
        func.sum(c.requests),
        func.sum(c.errors),
        func.sum(c.prompt_tokens),
        func.sum(c.completion_tokens),
        func.sum(c.cost_usd),
        func.sum(c.latency_ms_sum),
        func.max(c.latency_ms_max),
    )


def _hours(sums: dict[_Key, _Sum]) -> dict[_Key, _Sum]:
    """Minute sums folded into their hours."""
    hours: dict[_Key, _Sum] = {}
    for (project, minute, provider, model, capability), s in sums.items():
        key = (project, _floor_hour(minute), provider, model, capability)
        h = hours.get(key)
        if h is None:
            h = hours[key] = _Sum()
        h.merge(s)
    return hours


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
