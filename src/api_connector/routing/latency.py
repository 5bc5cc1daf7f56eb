"""What this process knows about each target's recent behaviour: latency (EWMA) and calls in flight.

``least_latency`` and ``least_busy`` read these; the router writes them around every attempt. They are
per process on purpose: latency as seen from here is what matters to this replica's callers, and an
in-flight count is a local fact. Failed attempts count as at least ``FAILURE_PENALTY`` seconds, so a
target that fails fast does not look fast.
"""

from __future__ import annotations

from dataclasses import dataclass

ALPHA = 0.3  # weight of the newest sample: about the last five calls dominate
FAILURE_PENALTY = 1.0


@dataclass(slots=True)
class TargetLoad:
    ewma: float | None = None  # seconds; None until the first call
    in_flight: int = 0


class TargetStats:
    __slots__ = ("_loads",)

    def __init__(self) -> None:
        self._loads: dict[str, TargetLoad] = {}

    def load(self, key: str) -> TargetLoad:
        found = self._loads.get(key)
        if found is None:
            found = self._loads[key] = TargetLoad()
        return found

    def begin(self, key: str) -> TargetLoad:
        load = self.load(key)
        load.in_flight += 1
        return load

    @staticmethod
    def end(load: TargetLoad, seconds: float | None, ok: bool = True) -> None:
        """An attempt ended after ``seconds`` (None: it did not get far enough to time it)."""
        load.in_flight -= 1
        if seconds is None:
            return
        sample = seconds if ok else max(seconds, FAILURE_PENALTY)
        load.ewma = sample if load.ewma is None else load.ewma + ALPHA * (sample - load.ewma)

    def latency(self, key: str) -> float | None:
        found = self._loads.get(key)
        return found.ewma if found else None

    def in_flight(self, key: str) -> int:
        found = self._loads.get(key)
        return found.in_flight if found else 0

    def snapshot(self) -> dict[str, dict[str, float | int | None]]:
        return {
            key: {"latency_ewma_ms": None if v.ewma is None else round(v.ewma * 1000, 3), "in_flight": v.in_flight}
            for key, v in self._loads.items()
        }
