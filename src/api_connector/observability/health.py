"""What this process knows about each provider's health: active probes plus passive live traffic.

Passive health is a sliding window of fixed time slots; each slot keeps a call count, an error count
and a small latency histogram, so booking a live call is O(1) (no list grows, nothing awaits) and the
percentiles are read from the merged histograms when someone asks. Active health is the outcome of
the provider's probe (``ProviderSpec.probe``), run by ``health_monitor``. The availability score
(0..1) combines both; ``unhealthy`` is the live set of keys the router moves to the back.

Everything is keyed by the instance's pool identity (``ProviderInstance.pool``: ``*:<name>`` for the
configuration file's instances, ``<project id>:<name>`` for a project's own), so two projects that
each add an instance of the same name never share a verdict; reports show the plain instance name.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api_connector.observability.settings_model import HealthConfig

# Latency histogram upper bounds in milliseconds (the last one catches everything slower).
_BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, float("inf"))
_SLOTS = 12


@dataclass(slots=True)
class _Slot:
    index: int = -1  # which slot of time this is (time // slot width); -1 = unused
    calls: int = 0
    errors: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(_BOUNDS_MS))

    def reset(self, index: int) -> None:
        self.index = index
        self.calls = 0
        self.errors = 0
        for i in range(len(self.histogram)):
            self.histogram[i] = 0


class SlidingWindow:
    """Calls, errors and latency over the last ``seconds``, in ``_SLOTS`` slots."""

    __slots__ = ("_slots", "_width")

    def __init__(self, seconds: float) -> None:
        self._width = seconds / _SLOTS
        self._slots = [_Slot() for _ in range(_SLOTS)]

    def record(self, ok: bool, seconds: float | None, now: float) -> None:
        index = int(now / self._width)
        slot = self._slots[index % _SLOTS]
        if slot.index != index:
            slot.reset(index)
        slot.calls += 1
        if not ok:
            slot.errors += 1
        if seconds is not None:
            slot.histogram[bisect.bisect_left(_BOUNDS_MS, seconds * 1000)] += 1

    def clear(self) -> None:
        for slot in self._slots:
            slot.index = -1

    def counts(self, now: float) -> tuple[int, int]:
        """Calls and errors in the window: twelve additions, cheap enough for every live call."""
        current = int(now / self._width)
        calls = errors = 0
        for slot in self._slots:
            if slot.index >= 0 and current - slot.index < _SLOTS:
                calls += slot.calls
                errors += slot.errors
        return calls, errors

    def summary(self, now: float) -> dict[str, float | int | None]:
        current = int(now / self._width)
        calls = errors = 0
        merged = [0] * len(_BOUNDS_MS)
        for slot in self._slots:
            if slot.index < 0 or current - slot.index >= _SLOTS:
                continue
            calls += slot.calls
            errors += slot.errors
            for i, count in enumerate(slot.histogram):
                merged[i] += count
        return {
            "calls": calls,
            "errors": errors,
            "error_rate": round(errors / calls, 4) if calls else 0.0,
            "p50_ms": _percentile(merged, 0.50),
            "p95_ms": _percentile(merged, 0.95),
            "p99_ms": _percentile(merged, 0.99),
        }


def _percentile(histogram: list[int], q: float) -> float | None:
    """The upper bound of the bucket holding the q-th sample (the last finite bound for the overflow)."""
    total = sum(histogram)
    if not total:
        return None
    rank = q * total
    seen = 0
    for bound, count in zip(_BOUNDS_MS, histogram, strict=True):
        seen += count
        if seen >= rank:
            return float(bound if bound != float("inf") else _BOUNDS_MS[-2])
    return float(_BOUNDS_MS[-2])


def provider_name(key: str) -> str:
    """The instance name in a pool key (project ids never contain a colon; names may)."""
    return key.partition(":")[2] if ":" in key else key


@dataclass(slots=True)
class ProviderHealth:
    key: str  # the instance's pool identity
    window: SlidingWindow
    consecutive_failures: int = 0
    probe_ok: bool | None = None  # None: no probe has run yet
    response_time_ms: float | None = None  # of the last probe
    last_checked: datetime | None = None
    last_error: str | None = None


class HealthRegistry:
    """Per-process health of every provider; written by the recorder (live) and the monitor (probes)."""

    def __init__(self, config: HealthConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._states: dict[str, ProviderHealth] = {}
        # Read by the router on every request: a plain set of pool keys, kept current on each change.
        self.unhealthy: set[str] = set()

    def state(self, key: str) -> ProviderHealth:
        found = self._states.get(key)
        if found is None:
            found = self._states[key] = ProviderHealth(key, SlidingWindow(self.config.window))
        return found

    # -- writers ------------------------------------------------------------------------------
    def record_live(self, key: str, ok: bool, seconds: float | None) -> None:
        """One live attempt's outcome: O(1), no I/O (the request path calls it)."""
        state = self.state(key)
        state.window.record(ok, seconds, self._clock())
        if ok:
            state.consecutive_failures = 0
            if key not in self.unhealthy:
                return  # a success cannot make a healthy provider unhealthy: no need to judge again
        else:
            state.consecutive_failures += 1
        self._judge(state)

    def record_probe(
        self, key: str, ok: bool, response_time_ms: float | None, checked: datetime, error: str | None = None
    ) -> None:
        state = self.state(key)
        was_unhealthy = key in self.unhealthy
        state.probe_ok = ok
        state.response_time_ms = response_time_ms
        state.last_checked = checked
        state.last_error = error
        if ok:
            state.consecutive_failures = 0
            if was_unhealthy:
                # Routed around, it saw no live traffic: its old errors say nothing about it now.
                state.window.clear()
        else:
            state.consecutive_failures += 1
        self._judge(state)

    def apply_shared(self, key: str, shared: dict[str, Any]) -> None:
        """A probe result another replica ran (from Redis)."""
        checked = datetime.fromisoformat(shared["last_checked"])
        state = self.state(key)
        if state.last_checked is not None and state.last_checked >= checked:
            return
        self.record_probe(key, bool(shared["ok"]), shared.get("response_time_ms"), checked, shared.get("error"))
        state.consecutive_failures = int(shared.get("consecutive_failures", state.consecutive_failures))
        self._judge(state)

    def forget(self, key: str) -> None:
        self._states.pop(key, None)
        self.unhealthy.discard(key)

    # -- readers ------------------------------------------------------------------------------
    def _healthy(self, state: ProviderHealth, calls: int, errors: int) -> bool:
        if state.consecutive_failures >= self.config.unhealthy_after:
            return False
        return not (calls >= self.config.min_calls and errors / calls >= self.config.error_rate)

    def _judge(self, state: ProviderHealth) -> None:
        if self._healthy(state, *state.window.counts(self._clock())):
            self.unhealthy.discard(state.key)
        else:
            self.unhealthy.add(state.key)

    def score(self, state: ProviderHealth, passive: dict[str, Any]) -> float:
        """Availability 0..1: half the probe's verdict, half live success rate scaled down by slowness."""
        parts: list[float] = []
        if state.probe_ok is not None:
            active = 1.0 if state.probe_ok else 0.0
            parts.append(active * max(0.0, 1 - state.consecutive_failures / (self.config.unhealthy_after + 1)))
        if passive["calls"]:
            live = 1.0 - float(passive["error_rate"])
            p95 = passive["p95_ms"]
            if p95 is not None and p95 > self.config.latency_p95_ms:
                live *= self.config.latency_p95_ms / p95
            parts.append(live)
        if not parts:
            return 1.0
        return round(sum(parts) / len(parts), 4)

    def report(self, key: str) -> dict[str, Any]:
        state = self.state(key)
        passive = state.window.summary(self._clock())
        healthy = self._healthy(state, int(passive["calls"] or 0), int(passive["errors"] or 0))
        # Judged afresh on read: an error burst that has left the window no longer counts.
        if healthy:
            self.unhealthy.discard(key)
        else:
            self.unhealthy.add(key)
        response_time = state.response_time_ms if state.response_time_ms is not None else passive["p50_ms"]
        return {
            "provider": provider_name(key),
            "is_healthy": healthy,
            "response_time_ms": response_time,
            "error_rate": passive["error_rate"],
            "last_checked": state.last_checked.isoformat() if state.last_checked else None,
            "consecutive_failures": state.consecutive_failures,
            "score": self.score(state, passive),
            "window": passive,
            "last_error": state.last_error,
        }

    def pool_keys(self) -> list[str]:
        return sorted(self._states)


def now_utc() -> datetime:
    return datetime.now(UTC)
