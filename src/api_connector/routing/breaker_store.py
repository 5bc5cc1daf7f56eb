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
must not turn into refusing traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from api_connector.config import BreakerConfig
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

log = get_logger("api_connector.breaker")

# Trip: open for wait * 2^(trips-1) (capped); a breaker closed for longer than max_wait starts over.
# Expects: k, now, wait, maxw, ttl, channel, name; sets state/untl.
_TRIP = """
local function trip(k, now, trips, closed_at, wait, maxw, ttl, channel, name)
  if closed_at > 0 and now - closed_at > maxw then trips = 0 end
  trips = trips + 1
  local untl = now + math.floor(math.min(maxw, wait * 2 ^ (trips - 1)))
  redis.call('DEL', k)
  redis.call('HSET', k, 'st', 1, 'un', untl, 'tr', trips, 'ca', closed_at)
  redis.call('PEXPIRE', k, ttl)
  redis.call('PUBLISH', channel, name .. '\\t1\\t' .. untl)
  return untl
end
"""

# KEYS[1]; ARGV: now, calls, failures, slow, slot width, min calls, failure rate, slow rate, wait,
# max wait, ttl, channel, name. Counts only while closed. Returns {state, until}.
_RECORD = (
    _TRIP
    + """
local k = KEYS[1]
local now = tonumber(ARGV[1])
local head = redis.call('HMGET', k, 'st', 'un', 'tr', 'ca')
local state = tonumber(head[1]) or 0
if state ~= 0 then return {state, tonumber(head[2]) or 0} end
local bucket = math.floor(now / tonumber(ARGV[5]))
local i = bucket % 10
if (tonumber(redis.call('HGET', k, 't' .. i)) or -1) ~= bucket then
  redis.call('HSET', k, 't' .. i, bucket, 'c' .. i, 0, 'f' .. i, 0, 's' .. i, 0)
end
redis.call('HINCRBY', k, 'c' .. i, ARGV[2])
redis.call('HINCRBY', k, 'f' .. i, ARGV[3])
redis.call('HINCRBY', k, 's' .. i, ARGV[4])
local calls, fails, slows = 0, 0, 0
for j = 0, 9 do
  local v = redis.call('HMGET', k, 't' .. j, 'c' .. j, 'f' .. j, 's' .. j)
  if (tonumber(v[1]) or -1) > bucket - 10 then
    calls = calls + (tonumber(v[2]) or 0)
    fails = fails + (tonumber(v[3]) or 0)
    slows = slows + (tonumber(v[4]) or 0)
  end
end
redis.call('PEXPIRE', k, ARGV[11])
if calls >= tonumber(ARGV[6]) and (fails >= tonumber(ARGV[7]) * calls or slows >= tonumber(ARGV[8]) * calls) then
  local untl = trip(k, now, tonumber(head[3]) or 0, tonumber(head[4]) or 0, tonumber(ARGV[9]),
                    tonumber(ARGV[10]), ARGV[11], ARGV[12], ARGV[13])
  return {1, untl}
end
return {0, 0}
"""
)

# KEYS[1]; ARGV: now, probes, lease, ttl, channel, name. Returns {state, until, verdict}: 0 refused,
# 1 pass (closed), 2 a half-open probe.
_ACQUIRE = """
local k = KEYS[1]
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', k, 'st', 'un', 'pr')
local state = tonumber(v[1]) or 0
local untl = tonumber(v[2]) or 0
if state == 0 then return {0, 0, 1} end
local probes = tonumber(v[3]) or 0
if state == 1 then
  if now < untl then return {1, untl, 0} end
  untl = now + tonumber(ARGV[3])
  probes = 0
  redis.call('HSET', k, 'st', 2, 'un', untl, 'pr', 0, 'ok', 0)
  redis.call('PEXPIRE', k, ARGV[4])
  redis.call('PUBLISH', ARGV[5], ARGV[6] .. '\\t2\\t' .. untl)
end
if probes < tonumber(ARGV[2]) then
  redis.call('HINCRBY', k, 'pr', 1)
  return {2, untl, 2}
end
if now >= untl then
  untl = now + tonumber(ARGV[3])
  redis.call('HSET', k, 'pr', 1, 'ok', 0, 'un', untl)
  return {2, untl, 2}
end
return {2, untl, 0}
"""

# KEYS[1]; ARGV: now, ok (1/0), probes, wait, max wait, ttl, channel, name. Returns {state, until}.
_PROBE = (
    _TRIP
    + """
local k = KEYS[1]
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', k, 'st', 'un', 'tr', 'ca')
local state = tonumber(v[1]) or 0
if state ~= 2 then return {state, tonumber(v[2]) or 0} end
if ARGV[2] == '1' then
  if redis.call('HINCRBY', k, 'ok', 1) >= tonumber(ARGV[3]) then
    redis.call('DEL', k)
    redis.call('HSET', k, 'st', 0, 'tr', tonumber(v[3]) or 0, 'ca', now)
    redis.call('PEXPIRE', k, ARGV[6])
    redis.call('PUBLISH', ARGV[7], ARGV[8] .. '\\t0\\t0')
    return {0, 0}
  end
  return {2, tonumber(v[2]) or 0}
end
local untl = trip(k, now, tonumber(v[3]) or 0, tonumber(v[4]) or 0, tonumber(ARGV[4]), tonumber(ARGV[5]),
                  ARGV[6], ARGV[7], ARGV[8])
return {1, untl}
"""
)

_RELEASE = """
local v = redis.call('HMGET', KEYS[1], 'st', 'pr')
if tonumber(v[1]) == 2 and (tonumber(v[2]) or 0) > 0 then redis.call('HINCRBY', KEYS[1], 'pr', -1) end
return 0
"""


class RedisBreakerStore:
    def __init__(
        self,
        config: BreakerConfig,
        redis: Redis,
        prefix: str,
        clock: Callable[[], float] = time.time,
        flush_interval: float = 0.02,
        refresh_interval: float = 1.0,
    ) -> None:
        self.config = config
        self.clock = clock
        self._redis = redis
        self._prefix = f"{prefix}breaker:"
        self._channel = f"{prefix}breaker-events"
        self._flush_interval = flush_interval
        self._refresh_interval = refresh_interval
        self._ms = _Millis(config)
        self._record_script = redis.register_script(_RECORD)
        self._acquire_script = redis.register_script(_ACQUIRE)
        self._probe_script = redis.register_script(_PROBE)
        self._release_script = redis.register_script(_RELEASE)
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
        args = (now, self.config.half_open_probes, self._ms.lease, self._ms.ttl, self._channel, key)
        try:
            state, until, verdict = await self._acquire_script(keys=[self._prefix + key], args=args)
        except RedisError as exc:
            self._warn("breaker state unavailable, letting the call through", exc)
            # Closed until the refresh loop reads Redis again: a Redis outage must not cost every call a
            # timeout on top of failing open.
            self._cache[key] = (CLOSED, 0.0)
            return PASS
        self._cache[key] = (int(state), int(until) / 1000)
        if verdict == 1:
            return PASS
        if verdict == 2:
            return PROBE
        return Permit(False, retry_after=max(0.0, (int(until) - now) / 1000) if state == OPEN else 1.0)

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
            self._report(self._release_script(keys=[self._prefix + key]))

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
        now = self._now_ms()
        config, ms = self.config, self._ms
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, (calls, fails, slows) in pending.items():
                    args: list[int | float | str] = [now, calls, fails, slows, ms.width, config.min_calls]
                    args += [config.failure_rate, config.slow_call_rate, ms.wait, ms.max_wait, ms.ttl]
                    args += [self._channel, key]
                    await self._record_script(keys=[self._prefix + key], args=args, client=pipe)
                results = await pipe.execute()
        except RedisError as exc:
            self._warn("could not record breaker outcomes", exc)
            return
        for key, (state, until) in zip(pending, results, strict=True):
            self._cache[key] = (int(state), int(until) / 1000)

    async def _report_probe(self, key: str, ok: bool) -> None:
        ms = self._ms
        args = (self._now_ms(), 1 if ok else 0, self.config.half_open_probes, ms.wait, ms.max_wait, ms.ttl)
        state, until = await self._probe_script(keys=[self._prefix + key], args=(*args, self._channel, key))
        self._cache[key] = (int(state), int(until) / 1000)

    async def _listen_loop(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._apply(message["data"])
            except RedisError as exc:
                self._warn("breaker event channel lost, reconnecting", exc)
                await asyncio.sleep(1.0)

    def _apply(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        key, _, rest = text.partition("\t")
        state, _, until = rest.partition("\t")
        with contextlib.suppress(ValueError):
            self._cache[key] = (int(state), int(until) / 1000)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval)
            keys = list(self._cache)
            if not keys:
                continue
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.hmget(self._prefix + key, "st", "un")
                    rows = await pipe.execute()
            except RedisError as exc:
                self._warn("could not refresh breaker states", exc)
                continue
            for key, (state, until) in zip(keys, rows, strict=True):
                self._cache[key] = (int(state or 0), int(until or 0) / 1000)

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


class _Millis:
    """The configuration's durations in milliseconds, as the scripts take them."""

    __slots__ = ("lease", "max_wait", "ttl", "wait", "width")

    def __init__(self, config: BreakerConfig) -> None:
        self.width = max(1, int(config.window * 1000 / SLOTS))
        self.wait = int(config.wait * 1000)
        self.max_wait = int(config.max_wait * 1000)
        self.lease = int(probe_lease(config) * 1000)
        self.ttl = int((config.window + 2 * config.max_wait + probe_lease(config)) * 1000)
