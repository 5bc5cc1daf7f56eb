"""How long to wait before trying again, and whether this process may try again at all.

Backoff is exponential with full jitter (a uniform draw in ``[0, min(max, base * 2^attempt)]``), so
that callers who failed together do not retry together. A ``Retry-After`` (or a rate-limit reset) from
the provider replaces the draw when the request's deadline allows it.

The retry budget keeps retries (every attempt after a request's first, on the same target or the next)
under ``budget_ratio`` of the requests seen in the last ``budget_window`` seconds, with a floor of
``budget_min_retries`` so that a quiet service still retries a lone failure. A retry that ends up
serving its request is given back: failing over from one sick provider to a healthy one is what the
router is for, and must not be rationed; what the budget counts is extra attempts that helped nobody.
During a full outage nothing is given back, and the traffic sent to providers stays at most
(1 + ratio) times the incoming traffic, never a multiple of it. The budget is per process: each
replica bounds its own amplification, hence the whole fleet's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from api_connector.config import RetryConfig
from api_connector.errors import UpstreamError

_BUCKETS = 10


class RetryBudget:
    """A sliding window of (requests, retries) in ``_BUCKETS`` slots; O(1) per request."""

    __slots__ = ("_current", "_floor", "_ratio", "_requests", "_retries", "_stamps", "_width", "clock", "refused")

    def __init__(self, config: RetryConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._ratio = config.budget_ratio
        self._floor = config.budget_min_retries
        self._width = config.budget_window / _BUCKETS
        self._requests = [0] * _BUCKETS
        self._retries = [0] * _BUCKETS
        self._stamps = [-1] * _BUCKETS
        self._current = -1
        self.clock = clock
        self.refused = 0  # retries the budget said no to, for metrics and tests

    def _slot(self) -> int:
        bucket = int(self.clock() / self._width)
        if bucket != self._current:
            self._current = bucket
            index = bucket % _BUCKETS
            if self._stamps[index] != bucket:
                self._stamps[index] = bucket
                self._requests[index] = 0
                self._retries[index] = 0
        return self._current % _BUCKETS

    def on_request(self) -> None:
        self._requests[self._slot()] += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (nothing taken) when it is spent."""
        slot = self._slot()
        oldest = self._current - _BUCKETS + 1
        requests = retries = 0
        for index in range(_BUCKETS):
            if self._stamps[index] >= oldest:
                requests += self._requests[index]
                retries += self._retries[index]
        if retries >= max(self._floor, self._ratio * requests):
            self.refused += 1
            return False
        self._retries[slot] += 1
        return True

    def refund(self) -> None:
        """Give back one retry: it served its request (counted off the newest slot that has one)."""
        slot = self._slot()
        for step in range(_BUCKETS):
            index = (slot - step) % _BUCKETS
            if self._retries[index] > 0 and self._stamps[index] > self._current - _BUCKETS:
                self._retries[index] -= 1
                return


def backoff_delay(
    config: RetryConfig,
    attempt: int,
    error: UpstreamError,
    rng: Callable[[], float],
    remaining: float | None,
    other_targets: bool,
) -> float | None:
    """Seconds to wait before trying the same target again, or None to move on instead.

    A provider that names its own Retry-After is rate limiting this target: when another target is
    left, going there now beats waiting; otherwise the wait is honoured if the deadline and
    ``max_retry_after`` allow it.
    """
    if error.retry_after is not None:
        if other_targets or error.retry_after > config.max_retry_after:
            return None
        delay = error.retry_after
    else:
        delay = rng() * min(config.max_delay, config.base_delay * 2**attempt)
    if remaining is not None and delay >= remaining:
        return None
    return delay
