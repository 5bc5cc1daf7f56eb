"""Per-minute and per-hour roll-ups of usage records, and the metrics and usage queries served from them.

A periodic job (and every query, first) folds the usage rows written since its watermark into
``usage_rollups``: one row per (project, minute, provider, model, capability) with counts, sums of every
metered unit (tokens, characters, audio seconds, pages, rows, searches) and of cost, and latency
sum/max, and the same sums per hour into ``usage_rollups_hourly``. A query over a range of at least two
hours reads its whole hours from the hourly table and only the partial hours at either end from the
minute one (30 days: about 720 rows a series instead of 43,200), with series points on hour boundaries
so that both kinds of rows fall wholly into one point. The fold is incremental and idempotent per
batch: both tables and the watermark move in one transaction, the watermark row locked (PostgreSQL) so
two replicas never fold the same rows.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, bindparam, case, cast, func, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api_connector.core.tasks import stop
from api_connector.errors import ValidationFailed
from api_connector.observability.logging import get_logger
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import METERED, UsageRow
from api_connector.storage.rollup_models import RollupWatermarkRow, UsageRollupHourRow, UsageRollupRow

log = get_logger("api_connector.rollups")
_WATERMARK = "usage"
_BATCH = 20_000
_UNITS = {"m": 60, "h": 3600, "d": 86400}
_RANGE = re.compile(r"^(\d+)([mhd])$")
MAX_RANGE = timedelta(days=366)
_HOUR = 3600
# What both roll-up tables hold besides their keys, and what every query reads back, by name (never by
# position: a unit added later is one more name here and in ``_point``). All are added up across rows
# and points, except the latency peak, which is their maximum.
_ANSWERED = ("requests", "errors", *METERED, "cost_usd", "latency_ms_sum", "latency_ms_max")
_PEAKS = frozenset({"latency_ms_max"})
# The answered sums that are whole numbers (audio seconds are fractional; cost and latency are apart).
_COUNTS = tuple(name for name in ("requests", "errors", *METERED) if name != "audio_seconds")


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
        self._built: tuple[Any, ...] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-rollups")

    async def close(self) -> None:
        task, self._task = self._task, None
        await stop(task)

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
        statements = self._statements()
        async with self._db.session() as session, session.begin():
            last = await self._watermark(session)
            count, upper = (await session.execute(statements[0], {"last": last})).one()
            if not count:
                return 0
            for fold in statements[1:]:
                await session.execute(fold, {"last": last, "upper": upper})
            await self._set_watermark(session, upper)
            return int(count)

    def _statements(self) -> tuple[Any, ...]:
        """The batch's bounds and the two folds, built once with bound parameters: building them anew
        every few seconds made garbage and cost CPU for nothing (they never change)."""
        if self._built is None:
            batch = (
                select(UsageRow.id).where(UsageRow.id > bindparam("last")).order_by(UsageRow.id).limit(_BATCH)
            ).subquery()
            bounds = select(func.count(), func.max(batch.c.id))
            self._built = (
                bounds,
                self._fold(UsageRollupRow, "minute", "minute"),
                self._fold(UsageRollupHourRow, "hour", "hour"),
            )
        return self._built

    def _truncate(self, unit: str) -> Any:
        """``created_at`` cut to the minute or hour, as each backend stores the roll-up's timestamp."""
        if self._db.engine.dialect.name == "postgresql":
            return func.date_trunc(unit, UsageRow.created_at, "UTC")
        # SQLite keeps UTC timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
        keep, rest = (16, ":00.000000") if unit == "minute" else (13, ":00:00.000000")
        return func.substr(UsageRow.created_at, 1, keep).concat(rest)

    def _fold(self, table: type[UsageRollupRow | UsageRollupHourRow], at: str, unit: str) -> Any:
        postgres = self._db.engine.dialect.name == "postgresql"
        dialect = postgresql if postgres else sqlite
        u = UsageRow
        used = UsageRow.__table__.c
        keys = {
            "project_id": u.project_id,
            at: self._truncate(unit).label(at),
            "provider": u.provider,
            "model": u.model,
            "capability": u.capability,
        }
        # Each roll-up column beside the expression that fills it, so that names and values cannot slip
        # out of step.
        sums: dict[str, Any] = {
            "requests": func.count(),
            "errors": func.sum(case((u.status == "error", 1), else_=0)),
            **{name: func.sum(used[name]) for name in METERED},
            "cost_usd": func.sum(u.cost_usd),  # NULL when no row of the group has a cost
            "latency_ms_sum": func.sum(u.latency_ms),
            "latency_ms_max": func.max(u.latency_ms),
        }
        assert tuple(sums) == _ANSWERED
        window = (u.id > bindparam("last"), u.id <= bindparam("upper"))
        query = select(*keys.values(), *sums.values()).where(*window).group_by(*keys.values())
        stmt = dialect.insert(table.__table__).from_select([*keys, *sums], query)
        ex, c = stmt.excluded, table.__table__.c
        added = {name: c[name] + ex[name] for name in _ANSWERED if name not in _PEAKS and name != "cost_usd"}
        peak = func.greatest if postgres else func.max  # SQLite's two-argument max() is the scalar one
        return stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={
                **added,
                # NULL + x is NULL: fall back to whichever side is known (both unknown stays NULL).
                "cost_usd": func.coalesce(c.cost_usd + ex.cost_usd, c.cost_usd, ex.cost_usd),
                "latency_ms_max": peak(c.latency_ms_max, ex.latency_ms_max),
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
        by_slot = select(slot.label("slot"), *sums).group_by(slot)
        by_provider = select(r.c.provider, *sums).group_by(r.c.provider).order_by(r.c.provider)
        async with self._db.session() as session:
            slots = [row._mapping for row in await session.execute(by_slot)]
            providers = [row._mapping for row in await session.execute(by_provider)]
        series = {base + int(row["slot"]) * step: {name: row[name] or 0 for name in _ANSWERED} for row in slots}
        total: dict[str, Any] = dict.fromkeys(_ANSWERED, 0)
        for point in series.values():
            for name, value in point.items():
                total[name] = max(total[name], value) if name in _PEAKS else total[name] + value
        return {
            "time_range": {"since": since.isoformat(), "until": until.isoformat(), "step_seconds": step},
            "totals": _point(total),
            "providers": [{"provider": row["provider"], **_point(row)} for row in providers],
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
            rows = [row._mapping for row in await session.execute(query)]
        data = [{"provider": row["provider"], "model": row["model"], **_point(row)} for row in rows]
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
    """One table's roll-up rows in [since, until), filtered where its indexes can help; the same columns
    from either table, so that the two unite."""
    c = row.__table__.c
    query = select(at.label("at"), row.provider, row.model, *(c[name] for name in _ANSWERED))
    query = query.where(at >= since, at < until)
    if project_id is not None:
        query = query.where(row.project_id == project_id)
    if provider is not None:
        query = query.where(row.provider == provider)
    return query


def _sums(c: Any) -> list[Any]:
    """The aggregates every query answers, each labelled with its roll-up column's name."""
    return [(func.max if name in _PEAKS else func.sum)(c[name]).label(name) for name in _ANSWERED]


def _point(values: Mapping[Any, Any]) -> dict[str, Any]:
    """One answer (a point, a provider, a model, the totals). PostgreSQL sums bigints as numeric and
    every backend sums nothing as NULL: each value is normalised to a plain int or float here."""
    whole = {name: int(values[name] or 0) for name in _COUNTS}
    requests, errors, cost = whole["requests"], whole["errors"], values["cost_usd"]
    latency_sum, latency_max = float(values["latency_ms_sum"] or 0), float(values["latency_ms_max"] or 0)
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": round(errors / requests, 4) if requests else 0.0,
        # Input and output tokens, under the names the SDK and the CLI have always read.
        "prompt_tokens": whole["prompt_tokens"],
        "completion_tokens": whole["completion_tokens"],
        "total_tokens": whole["prompt_tokens"] + whole["completion_tokens"],
        "cached_tokens": whole["cached_tokens"],
        "characters": whole["characters"],
        "audio_seconds": round(float(values["audio_seconds"] or 0), 3),
        "pages": whole["pages"],
        "rows": whole["rows"],
        "searches": whole["searches"],
        "cost_usd": round(float(cost), 6) if cost else None,
        "avg_latency_ms": round(latency_sum / requests, 3) if requests else None,
        "max_latency_ms": round(latency_max, 3) if requests else None,
    }
