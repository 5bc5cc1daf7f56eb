"""What a batch of usage rows adds to the roll-ups, summed in Python from the values the writer stores.

The batch writer holds each batch's rows as ``usage_insert.usage_values`` gives them (over-long text cut
to its column: exactly what is stored). Summing them here costs a fraction of what the SQL fold costs the
database for the same rows (read them back, sort them by key twice, group them). The sums follow the SQL
fold's rules, so that either way gives the same roll-up rows: one per (project, minute or hour, provider,
model, capability); ``requests`` counts rows, ``errors`` those whose status is ``error``; every metered
unit and the latency are added up; the latency peak is the maximum; ``cost_usd`` adds the known costs and
stays None when no row of the group has one (SQL's SUM over NULLs alone).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from api_connector.storage.models import METERED
from api_connector.storage.rollup_models import ROLLUP_KEYS, ROLLUP_SUMS
from api_connector.storage.usage_insert import USAGE_COLUMNS

# (epoch minute or hour, (project_id, provider, model, capability)): the time as a whole number of
# minutes or hours since the epoch, made a timestamp only once per key, when the roll-up row is written.
Key = tuple[int, tuple[str, ...]]
# One roll-up row's values in ROLLUP_SUMS order.
Sums = list[Any]

_EPOCH = datetime.fromtimestamp(0, UTC)
_MINUTE = timedelta(minutes=1)
_COLUMN = {name: index for index, name in enumerate(USAGE_COLUMNS)}
_AT = _COLUMN["created_at"]
_KEY = itemgetter(*(_COLUMN[name] for name in ROLLUP_KEYS))
# A usage row's values that the sums are made of, in the order ``_group_sums`` reads them.
_SUMMED = itemgetter(*(_COLUMN[name] for name in ("status", *METERED, "cost_usd", "latency_ms")))
assert ("requests", "errors", *METERED, "cost_usd", "latency_ms_sum", "latency_ms_max") == ROLLUP_SUMS
_COST = ROLLUP_SUMS.index("cost_usd")
_PEAK = ROLLUP_SUMS.index("latency_ms_max")
_ADDED = tuple(index for index in range(len(ROLLUP_SUMS)) if index not in (_COST, _PEAK))


def minute_sums(rows: Iterable[Sequence[Any]]) -> dict[Key, Sums]:
    """Per-minute roll-up sums of usage rows (``usage_values`` lists), keyed by ``Key`` in minutes."""
    groups: dict[Key, list[Sequence[Any]]] = {}
    start = end = _EPOCH  # the UTC minute of the row before, [start, end): none yet
    minute = 0
    for row in rows:
        at = row[_AT]
        if not start <= at < end:
            # A batch's rows nearly all fall in one minute: comparing with its bounds costs a fraction of
            # computing each row's timestamp. The whole part of timestamp() is the UTC second itself
            # (see usage_insert.sqlite_timestamp): floored to the minute as the SQL fold truncates.
            minute = int(at.timestamp()) // 60
            start = datetime.fromtimestamp(minute * 60, UTC)
            end = start + _MINUTE
        key = (minute, _KEY(row))
        group = groups.get(key)
        if group is None:
            groups[key] = [row]
        else:
            group.append(row)
    return {key: _group_sums(group) for key, group in groups.items()}


def _group_sums(rows: list[Sequence[Any]]) -> Sums:
    # Column by column (one zip in C) rather than row by row: a batch has few keys and many rows each.
    status, *units, costs, latencies = zip(*map(_SUMMED, rows), strict=True)
    known = [cost for cost in costs if cost is not None]
    return [
        len(rows),
        status.count("error"),
        *map(sum, units),
        sum(known) if known else None,
        sum(latencies),
        max(latencies),
    ]


def hour_sums(minutes: dict[Key, Sums]) -> dict[Key, Sums]:
    """The per-hour sums of per-minute ones (``minute_sums``), keyed by ``Key`` in hours."""
    hours: dict[Key, Sums] = {}
    for minute_key, sums in minutes.items():
        key = (minute_key[0] // 60, minute_key[1])
        have = hours.get(key)
        if have is None:
            hours[key] = sums.copy()
        else:
            _merge(have, sums)
    return hours


def _merge(into: Sums, more: Sums) -> None:
    for index in _ADDED:
        into[index] += more[index]
    cost = more[_COST]
    if cost is not None:
        into[_COST] = cost if into[_COST] is None else into[_COST] + cost
    into[_PEAK] = max(into[_PEAK], more[_PEAK])


def key_time(key: Key, unit_seconds: int) -> datetime:
    """A key's minute (``unit_seconds`` 60) or hour (3600) as an aware UTC datetime."""
    return datetime.fromtimestamp(key[0] * unit_seconds, UTC)
