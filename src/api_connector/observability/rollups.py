"""Per-minute and per-hour roll-ups of usage records, and the metrics and usage queries served from them.

``usage_rollups`` holds one row per (project, minute, provider, model, capability) with counts, sums of
every metered unit (tokens, characters, audio seconds, pages, rows, searches) and of cost, and latency
sum/max; ``usage_rollups_hourly`` the same sums per hour. The batch writer folds each batch of usage rows
into both as it writes it; rows no writer folded (an upgrade, direct inserts) are folded by the SQL fold
that ``refresh`` runs, periodically and before every query. ``storage.rollup_fold`` holds the watermark
and its invariant: every usage row at or below it is in both tables exactly once.

A query over a range of at least two hours reads its whole hours from the hourly table and only the
partial hours at either end from the minute one (30 days: about 720 rows a series instead of 43,200),
with series points on hour boundaries so that both kinds of rows fall wholly into one point.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, cast, func, select, union_all

from api_connector.core.tasks import stop
from api_connector.errors import ValidationFailed
from api_connector.observability.logging import get_logger
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import METERED
from api_connector.storage.rollup_fold import CATCH_UP_BATCH, fold_backlog
from api_connector.storage.rollup_models import ROLLUP_PEAKS, ROLLUP_SUMS, UsageRollupHourRow, UsageRollupRow

log = get_logger("api_connector.rollups")
_UNITS = {"m": 60, "h": 3600, "d": 86400}
_RANGE = re.compile(r"^(\d+)([mhd])$")
MAX_RANGE = timedelta(days=366)
_HOUR = 3600
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
        """Fold the usage rows no writer folded (see ``storage.rollup_fold``); how many it folded. In the
        steady state the writers fold every batch as they write it, and this is one range check."""
        folded = 0
        async with self._lock:
            while True:
                count = await fold_backlog(self._db.engine)
                folded += count
                if count < CATCH_UP_BATCH:
                    return folded

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
        series = {base + int(row["slot"]) * step: {name: row[name] or 0 for name in ROLLUP_SUMS} for row in slots}
        total: dict[str, Any] = dict.fromkeys(ROLLUP_SUMS, 0)
        for point in series.values():
            for name, value in point.items():
                total[name] = max(total[name], value) if name in ROLLUP_PEAKS else total[name] + value
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
    query = select(at.label("at"), row.provider, row.model, *(c[name] for name in ROLLUP_SUMS))
    query = query.where(at >= since, at < until)
    if project_id is not None:
        query = query.where(row.project_id == project_id)
    if provider is not None:
        query = query.where(row.provider == provider)
    return query


def _sums(c: Any) -> list[Any]:
    """The aggregates every query answers, each labelled with its roll-up column's name."""
    return [(func.max if name in ROLLUP_PEAKS else func.sum)(c[name]).label(name) for name in ROLLUP_SUMS]


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
