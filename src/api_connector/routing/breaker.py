"""Circuit breakers, one per target: closed, open, half-open.

Closed: calls pass; their outcomes go into a sliding window of ``window`` seconds (ten slots). Once
the window holds ``min_calls`` calls and the failure rate or the slow-call rate reaches its threshold,
the breaker trips: open for ``wait`` seconds, doubled on each repeated trip up to ``max_wait`` (a
breaker that stayed closed for ``max_wait`` starts from ``wait`` again). Open: calls are refused
without touching the provider. Then half-open: ``half_open_probes`` calls go through; if all succeed
the breaker closes, one failure trips it again. A probe that never reports back (its process died)
is given up after the probe lease, and new probes are let through.

This module holds the state machine and the in-memory store; ``breaker_store`` keeps the same state in
Redis for replicas to share. The router asks ``Breakers.fast(key)`` first, a dictionary lookup that
answers for a closed breaker (nearly every call); only an open or half-open one goes to ``acquire``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from api_connector.config import BreakerConfig

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half_open"}
SLOTS = 10


@dataclass(frozen=True, slots=True)
class Permit:
    allowed: bool
    probe: bool = False  # a half-open trial call: its outcome decides the breaker
    retry_after: float = 0.0  # when refused: seconds until a call may be tried


PASS = Permit(True)
PROBE = Permit(True, probe=True)


def probe_lease(config: BreakerConfig) -> float:
    """How long half-open probes may take before they are presumed lost."""
    return max(config.wait, config.slow_call_seconds, 30.0)


def trip_wait(config: BreakerConfig, trips: int) -> float:
    return float(min(config.max_wait, config.wait * 2 ** max(0, trips - 1)))


class BreakerStore(Protocol):
    """Where breaker state lives: this process (``MemoryBreakerStore``) or Redis (``RedisBreakerStore``)."""

    def fast(self, key: str) -> Permit | None:
        """The answer when it needs no shared state (closed, or open and still waiting); else None."""
        ...

    async def acquire(self, key: str) -> Permit: ...

    def record(self, key: str, permit: Permit, ok: bool, slow: bool) -> None: ...

    def release(self, key: str, permit: Permit) -> None:
        """A permit that was not used for a call (the target was passed over, the caller left)."""
        ...

    async def states(self) -> dict[str, dict[str, object]]: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class _Breaker:
    """One target's state; the same rules as the Redis scripts behind ``breaker_store``
    (``storage.breaker_scripts``)."""

    __slots__ = (
        "bucket",
        "calls",
        "closed_at",
        "fails",
        "oks",
        "probes",
        "slows",
        "stamps",
        "state",
        "totals",
        "trips",
        "until",
    )

    def __init__(self) -> None:
        self.state = CLOSED
        self.until = 0.0
        self.trips = 0
        self.probes = 0
        self.oks = 0
        self.closed_at = 0.0
        self.bucket = -1
        self.stamps = [-1] * SLOTS
        self.calls = [0] * SLOTS
        self.fails = [0] * SLOTS
        self.slows = [0] * SLOTS
        self.totals = [0, 0, 0]  # calls, failures, slow calls in the window

    def reset_window(self) -> None:
        self.stamps = [-1] * SLOTS
        self.calls = [0] * SLOTS
        self.fails = [0] * SLOTS
        self.slows = [0] * SLOTS
        self.totals = [0, 0, 0]
        self.bucket = -1

    def add(self, bucket: int, ok: bool, slow: bool) -> None:
        if bucket != self.bucket:
            self._expire(bucket)
        index = bucket % SLOTS
        self.calls[index] += 1
        self.totals[0] += 1
        if not ok:
            self.fails[index] += 1
            self.totals[1] += 1
        if slow:
            self.slows[index] += 1
            self.totals[2] += 1

    def _expire(self, bucket: int) -> None:
        """Drop slots that fell out of the window; runs once per slot width, not per call."""
        self.bucket = bucket
        oldest = bucket - SLOTS + 1
        for index in range(SLOTS):
            stamp = self.stamps[index]
            if stamp != -1 and stamp < oldest:
                self._clear(index)
        index = bucket % SLOTS
        if self.stamps[index] != bucket:
            self._clear(index)
            self.stamps[index] = bucket

    def _clear(self, index: int) -> None:
        self.totals[0] -= self.calls[index]
        self.totals[1] -= self.fails[index]
        self.totals[2] -= self.slows[index]
        self.calls[index] = self.fails[index] = self.slows[index] = 0
        self.stamps[index] = -1


class MemoryBreakerStore:
    """Breakers of this process only (no Redis configured): every operation is a few dictionary steps."""

    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._width = config.window / SLOTS
        self._lease = probe_lease(config)
        self._breakers: dict[str, _Breaker] = {}

    def fast(self, key: str) -> Permit | None:
        breaker = self._breakers.get(key)
        if breaker is None or breaker.state == CLOSED:
            return PASS
        if breaker.state == OPEN:
            left = breaker.until - self.clock()
            if left > 0:
                return Permit(False, retry_after=left)
        return None

    async def acquire(self, key: str) -> Permit:
        return self.acquire_now(key)

    def acquire_now(self, key: str) -> Permit:
        breaker = self._breakers.get(key)
        if breaker is None or breaker.state == CLOSED:
            return PASS
        now = self.clock()
        if breaker.state == OPEN:
            if now < breaker.until:
                return Permit(False, retry_after=breaker.until - now)
            breaker.state, breaker.probes, breaker.oks, breaker.until = HALF_OPEN, 0, 0, now + self._lease
        if breaker.probes < self.config.half_open_probes:
            breaker.probes += 1
            return PROBE
        if now >= breaker.until:  # the probes in flight were lost: start a new round
            breaker.probes, breaker.oks, breaker.until = 1, 0, now + self._lease
            return PROBE
        return Permit(False, retry_after=min(1.0, breaker.until - now))

    def record(self, key: str, permit: Permit, ok: bool, slow: bool) -> None:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = _Breaker()
        now = self.clock()
        if permit.probe:
            self._probe_outcome(breaker, ok and not slow, now)
            return
        if breaker.state != CLOSED:
            return  # a call let through before the trip: it no longer counts
        breaker.add(int(now / self._width), ok, slow)
        calls, fails, slows = breaker.totals
        config = self.config
        if calls >= config.min_calls and (
            fails >= config.failure_rate * calls or slows >= config.slow_call_rate * calls
        ):
            self._trip(breaker, now)

    def _probe_outcome(self, breaker: _Breaker, ok: bool, now: float) -> None:
        if breaker.state != HALF_OPEN:
            return
        if not ok:
            self._trip(breaker, now)
            return
        breaker.oks += 1
        if breaker.oks >= self.config.half_open_probes:
            breaker.state, breaker.closed_at, breaker.probes, breaker.oks = CLOSED, now, 0, 0
            breaker.reset_window()

    def _trip(self, breaker: _Breaker, now: float) -> None:
        if breaker.closed_at and now - breaker.closed_at > self.config.max_wait:
            breaker.trips = 0  # closed long enough: this is a new incident, not a repeat
        breaker.trips += 1
        breaker.state, breaker.probes, breaker.oks = OPEN, 0, 0
        breaker.until = now + trip_wait(self.config, breaker.trips)
        breaker.reset_window()

    def release(self, key: str, permit: Permit) -> None:
        breaker = self._breakers.get(key)
        if permit.probe and breaker is not None and breaker.state == HALF_OPEN and breaker.probes > 0:
            breaker.probes -= 1

    async def states(self) -> dict[str, dict[str, object]]:
        now = self.clock()
        return {
            key: {
                "state": STATE_NAMES[b.state],
                "retry_after": round(max(0.0, b.until - now), 3) if b.state == OPEN else 0.0,
                "trips": b.trips,
                "window_calls": b.totals[0],
                "window_failures": b.totals[1],
                "window_slow_calls": b.totals[2],
            }
            for key, b in self._breakers.items()
        }

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class DisabledBreakers:
    """``breaker.enabled: false``: every call passes and nothing is counted."""

    def fast(self, key: str) -> Permit | None:
        return PASS

    async def acquire(self, key: str) -> Permit:
        return PASS

    def record(self, key: str, permit: Permit, ok: bool, slow: bool) -> None:
        return None

    def release(self, key: str, permit: Permit) -> None:
        return None

    async def states(self) -> dict[str, dict[str, object]]:
        return {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
