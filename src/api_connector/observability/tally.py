"""Per-request metric updates gathered as plain numbers and handed to prometheus_client in bulk.

A prometheus_client counter increment takes a lock and a histogram observation walks its buckets in
Python: together about a twentieth of the service's own work per request. Here a request adds to a
few integers and floats; ``Tallies.flush()`` passes the totals on: from the request path at most once
a second (the recorder), before every scrape, from a periodic task (so an idle worker's last second
shows up in a multi-worker scrape) and at shutdown. A scrape therefore sees every request up to that moment in
its own process, and other workers' requests up to a second late.

Histograms are filled per bucket through the child's ``_buckets`` and ``_sum`` values (what its own
``observe`` updates); ``tests/observability/test_tally.py`` checks the rendered result against
``observe`` so that a change inside prometheus_client cannot go unnoticed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client.metrics_core import Metric


class CounterTally:
    __slots__ = ("_child", "pending")

    def __init__(self, child: Any) -> None:
        self._child = child
        self.pending: float = 0

    def flush(self) -> None:
        if self.pending:
            amount, self.pending = self.pending, 0
            self._child.inc(amount)


class HistogramTally:
    __slots__ = ("_bounds", "_child", "_counts", "_sum")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._bounds: list[float] = list(child._upper_bounds)  # ends with +Inf
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def observe(self, amount: float) -> None:
        # The first bound not below the amount: the bucket prometheus_client's observe would pick.
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def flush(self) -> None:
        counts = self._counts
        if not any(counts):
            return
        self._counts = [0] * len(counts)
        total, self._sum = self._sum, 0.0
        self._child._sum.inc(total)
        for bucket, count in zip(self._child._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


class Tallies:
    """Every tally of one process, flushed together.

    Registered first in a registry, it flushes whenever that registry is collected, so whoever reads
    the registry (a scrape, a test) sees every request so far.
    """

    def __init__(self) -> None:
        self._all: list[CounterTally | HistogramTally] = []

    def counter(self, child: Any) -> CounterTally:
        tally = CounterTally(child)
        self._all.append(tally)
        return tally

    def histogram(self, child: Any) -> HistogramTally:
        tally = HistogramTally(child)
        self._all.append(tally)
        return tally

    def flush(self) -> None:
        for tally in self._all:
            tally.flush()

    def collect(self) -> Iterator[Metric]:
        self.flush()
        return iter(())
