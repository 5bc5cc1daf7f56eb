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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, case, cast, func, select, union_all
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
# The summed columns of both roll-up tables, in the order the fold selects them.
_SUMMED = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "latency_ms_sum",
    "latency_ms_max",
)


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
        if every > MAX_RANGE.total_seconds():  # beyond any range: no date arithmetic can take it
            raise ValidationFailed("step must be between 1m and 366d", param="step")
    else:
        every = max(60, (span // 60) // 60 * 60)
        if every > _HOUR:  # whole hours: long ranges are then answered from the hourly roll-ups
            every = -(-every // _HOUR) * _HOUR
    return since, until, max(60, every)


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
        # The database aggregates (INSERT ... SELECT ... GROUP BY): reading every usage row back into
        # Python to sum it cost the service a visible share of its CPU under load.
        async with self._db.session() as session, session.begin():
            last = await self._watermark(session)
            batch = select(UsageRow.id).where(UsageRow.id > last).order_by(UsageRow.id).limit(_BATCH).subquery()
            count, upper = (await session.execute(select(func.count(), func.max(batch.c.id)))).one()
            if not count:
                return 0
            for table, at, unit in ((UsageRollupRow, "minute", "minute"), (UsageRollupHourRow, "hour", "hour")):
                await session.execute(self._fold(table, at, unit, last, upper))
            await self._set_watermark(session, upper)
            return int(count)

    def _truncate(self, unit: str) -> Any:
        """``created_at`` cut to the minute or hour, as each backend stores the roll-up's timestamp."""
        if self._db.engine.dialect.name == "postgresql":
            return func.date_trunc(unit, UsageRow.created_at, "UTC")
        # SQLite keeps UTC timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
        keep, rest = (16, ":00.000000") if unit == "minute" else (13, ":00:00.000000")
        return func.substr(UsageRow.created_at, 1, keep).concat(rest)

    def _fold(self, table: type[UsageRollupRow | UsageRollupHourRow], at: str, unit: str, last: int, upper: int) -> Any:
        postgres = self._db.engine.dialect.name == "postgresql"
        dialect = postgresql if postgres else sqlite
        u = UsageRow
        when = self._truncate(unit).label(at)
        sums = select(
            u.project_id,
            when,
            u.provider,
            u.model,
            u.capability,
            func.count(),
            func.sum(case((u.status == "error", 1), else_=0)),
            func.sum(u.prompt_tokens),
            func.sum(u.completion_tokens),
            func.sum(u.cached_tokens),
            func.sum(u.cost_usd),  # NULL when no row of the group has a cost
            func.sum(u.latency_ms),
            func.max(u.latency_ms),
        )
        sums = sums.where(u.id > last, u.id <= upper).group_by(u.project_id, when, u.provider, u.model, u.capability)
        names = ["project_id", at, "provider", "model", "capability", *_SUMMED]
        stmt = dialect.insert(table.__table__).from_select(names, sums)
        ex, c = stmt.excluded, table.__table__.c
        return stmt.on_conflict_do_update(
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
                "latency_ms_max": func.greatest(c.latency_ms_max, ex.latency_ms_max)
                if postgres
                else func.max(c.latency_ms_max, ex.latency_ms_max),
            },
        )

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
