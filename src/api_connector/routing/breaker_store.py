"""Breaker state in Redis, shared by every replica; the same rules as ``breaker.MemoryBreakerStore``.

Cost on the request path, the point of this design:

* Each process keeps a local copy of every breaker's state (closed / open until T / half-open). A
  closed breaker, and an open one still waiting, are answered from it: no Redis round-trip.
* Outcomes of ordinary calls are counted locally and flushed every ``flush_interval`` (20 ms) in one
  pipeline, one script call per target; the answer refreshes the local copy.
* Only what must be decided by everyone at once costs one round-trip, by one atomic script: the first
  sight of a target, taking a half-open probe slot, and reporting a probe's outcome.
* Every transition is published on a channel that each process listens to, so a breaker that trips on
  one replica is open on all of them within milliseconds; a refresh of the known keys every
  ``refresh_interval`` covers messages lost while a connection was down.

A breaker's hash expires when unused (window + twice the longest wait). When Redis cannot be reached the
breakers fail open (calls pass, counts are dropped) and a warning is logged: losing shared breaker state
must not turn into refusing traffic. The scripts, the pipelines and the channel are
``storage.breaker_scripts``; this module holds the rules around them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from api_connector.config import BreakerConfig
from api_connector.errors import SharedStateUnavailable
from api_connector.observability.logging import get_logger
from api_connector.routing.breaker import (
    CLOSED,
    OPEN,
    PASS,
    PROBE,
    SLOTS,
    STATE_NAMES,
    Permit,
    probe_lease,
)
from api_connector.storage.breaker_scripts import BreakerFigures, BreakerScripts

log = get_logger("api_connector.breaker")


class RedisBreakerStore:
    def __init__(
        self,
        config: BreakerConfig,
        scripts: BreakerScripts,
        clock: Callable[[], float] = time.time,
        flush_interval: float = 0.02,
        refresh_interval: float = 1.0,
    ) -> None:
        self.config = config
        self.clock = clock
        self._scripts = scripts
        self._flush_interval = flush_interval
        self._refresh_interval = refresh_interval
        self._figures = _figures(config)
        # key -> (state, open or lease until, in clock() seconds)
        self._cache: dict[str, tuple[int, float]] = {}
        self._pending: dict[str, list[int]] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()  # the background loops
        self._reports: set[asyncio.Task[Any]] = set()  # probe outcomes and releases on their way
        self._last_warning = 0.0

    # -- the request path ------------------------------------------------------------------------
    def fast(self, key: str) -> Permit | None:
        cached = self._cache.get(key)
        if cached is None:
            return None
        state, until = cached
        if state == CLOSED:
            return PASS
        if state == OPEN:
            left = until - self.clock()
            if left > 0:
                return Permit(False, retry_after=left)
        return None

    async def acquire(self, key: str) -> Permit:
        now = self._now_ms()
        try:
            state, until, verdict = await self._scripts.acquire(key, now, self._figures)
        except SharedStateUnavailable as exc:
            self._warn("breaker state unavailable, letting the call through", exc)
            # Closed until the refresh loop reads Redis again: a Redis outage must not cost every call a
            # timeout on top of failing open.
            self._cache[key] = (CLOSED, 0.0)
            return PASS
        self._cache[key] = (state, until / 1000)
        if verdict == 1:
            return PASS
        if verdict == 2:
            return PROBE
        return Permit(False, retry_after=max(0.0, (until - now) / 1000) if state == OPEN else 1.0)

    def record(self, key: str, permit: Permit, ok: bool, slow: bool) -> None:
        if permit.probe:
            self._report(self._report_probe(key, ok and not slow))
            return
        cached = self._cache.get(key)
        if cached is not None and cached[0] != CLOSED:
            return
        counts = self._pending.get(key)
        if counts is None:
            counts = self._pending[key] = [0, 0, 0]
        counts[0] += 1
        if not ok:
            counts[1] += 1
        if slow:
            counts[2] += 1
        self._wake.set()

    def release(self, key: str, permit: Permit) -> None:
        if permit.probe:
            self._report(self._scripts.release(key))

    # -- background ------------------------------------------------------------------------------
    async def start(self) -> None:
        if not self._tasks:
            for work in (self._flush_loop(), self._listen_loop(), self._refresh_loop()):
                self._spawn(work)

    async def close(self) -> None:
        await self.flush()
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _report(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._reports.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._reports.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._warn("breaker bookkeeping failed", task.exception())

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._flush_interval)  # gather a batch of outcomes
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write the outcomes counted so far, and wait for probe reports on their way."""
        if self._reports:
            await asyncio.gather(*list(self._reports), return_exceptions=True)
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            states = await self._scripts.record(pending, self._now_ms(), self._figures)
        except SharedStateUnavailable as exc:
            self._warn("could not record breaker outcomes", exc)
            return
        for key, (state, until) in zip(pending, states, strict=True):
            self._cache[key] = (state, until / 1000)

    async def _report_probe(self, key: str, ok: bool) -> None:
        state, until = await self._scripts.probe(key, self._now_ms(), ok, self._figures)
        self._cache[key] = (state, until / 1000)

    async def _listen_loop(self) -> None:
        while True:
            try:
                await self._scripts.listen(self._apply)
            except SharedStateUnavailable as exc:
                self._warn("breaker event channel lost, reconnecting", exc)
                await asyncio.sleep(1.0)

    def _apply(self, key: str, state: int, until: int) -> None:
        self._cache[key] = (state, until / 1000)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval)
            keys = list(self._cache)
            if not keys:
                continue
            try:
                stored = await self._scripts.states(keys)
            except SharedStateUnavailable as exc:
                self._warn("could not refresh breaker states", exc)
                continue
            for key, (state, until) in zip(keys, stored, strict=True):
                self._cache[key] = (state, until / 1000)

    async def states(self) -> dict[str, dict[str, object]]:
        now = self.clock()
        return {
            key: {
                "state": STATE_NAMES.get(state, "closed"),
                "retry_after": round(max(0.0, until - now), 3) if state == OPEN else 0.0,
                "shared": True,
            }
            for key, (state, until) in self._cache.items()
        }

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _warn(self, what: str, exc: BaseException | None) -> None:
        now = time.monotonic()
        if now - self._last_warning > 10:  # once per ten seconds, not once per request
            self._last_warning = now
            log.warning(what, error=type(exc).__name__ if exc else None)


def _figures(config: BreakerConfig) -> BreakerFigures:
    """The configuration as the scripts take it: durations in milliseconds."""
    lease = probe_lease(config)
    return BreakerFigures(
        width_ms=max(1, int(config.window * 1000 / SLOTS)),
        min_calls=config.min_calls,
        failure_rate=config.failure_rate,
        slow_rate=config.slow_call_rate,
        wait_ms=int(config.wait * 1000),
        max_wait_ms=int(config.max_wait * 1000),
        lease_ms=int(lease * 1000),
        ttl_ms=int((config.window + 2 * config.max_wait + lease) * 1000),
        probes=config.half_open_probes,
    )
