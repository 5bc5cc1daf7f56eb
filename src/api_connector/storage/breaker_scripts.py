"""Breaker state on the shared Redis: one hash per target at ``<prefix>breaker:<key>``, changed only by
atomic scripts, and every transition published on ``<prefix>breaker-events``.

``routing.breaker_store`` holds the rules around it (the local copy, when to flush, failing open); this
module holds the scripts, the pipelines that batch them and the event channel, in storage terms:
keys, milliseconds, counts and states (0 closed, 1 open, 2 half-open, as ``routing.breaker`` numbers
them). Failures come back as ``SharedStateUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api_connector.storage.redis import client_errors, unavailable

if TYPE_CHECKING:
    from api_connector.storage.redis import SharedRedis

# A state and until when it holds (epoch milliseconds; 0 when it has no end).
State = tuple[int, int]


@dataclass(frozen=True, slots=True)
class BreakerFigures:
    """A breaker configuration as the scripts take it, on every call (durations in milliseconds)."""

    width_ms: int  # one slot of the window (the window is ten)
    min_calls: int
    failure_rate: float
    slow_rate: float
    wait_ms: int  # open after the first trip; doubled on each repeated one
    max_wait_ms: int
    lease_ms: int  # how long half-open probes may take
    ttl_ms: int  # a hash unused for this long expires
    probes: int  # half-open probes let through


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


class BreakerScripts:
    def __init__(self, shared: SharedRedis) -> None:
        self._redis = shared.client
        self._prefix = f"{shared.prefix}breaker:"
        self._channel = f"{shared.prefix}breaker-events"
        self._record = shared.client.register_script(_RECORD)
        self._acquire = shared.client.register_script(_ACQUIRE)
        self._probe = shared.client.register_script(_PROBE)
        self._release = shared.client.register_script(_RELEASE)

    async def acquire(self, key: str, now_ms: int, figures: BreakerFigures) -> tuple[int, int, int]:
        """Whether a call may go to ``key``'s target: (state, until, verdict), verdict 0 refused, 1 passed
        (closed), 2 a half-open probe (an open breaker past its wait turns half-open here)."""
        args = (now_ms, figures.probes, figures.lease_ms, figures.ttl_ms, self._channel, key)
        try:
            state, until, verdict = await self._acquire(keys=[self._prefix + key], args=args)
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return int(state), int(until), int(verdict)

    async def record(self, counts: dict[str, list[int]], now_ms: int, figures: BreakerFigures) -> list[State]:
        """Add each key's [calls, failures, slow calls] to its window (counted only while closed), tripping
        the breakers that reach a threshold, in one pipeline; each key's state after it, in order."""
        f = figures
        rules = [f.width_ms, f.min_calls, f.failure_rate, f.slow_rate, f.wait_ms, f.max_wait_ms, f.ttl_ms]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, (calls, fails, slows) in counts.items():
                    args: list[int | float | str] = [now_ms, calls, fails, slows, *rules, self._channel, key]
                    await self._record(keys=[self._prefix + key], args=args, client=pipe)
                results = await pipe.execute()
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return [(int(state), int(until)) for state, until in results]

    async def probe(self, key: str, now_ms: int, ok: bool, figures: BreakerFigures) -> State:
        """A half-open probe's outcome: enough successes close the breaker, one failure trips it again."""
        f = figures
        args = (now_ms, 1 if ok else 0, f.probes, f.wait_ms, f.max_wait_ms, f.ttl_ms, self._channel, key)
        try:
            state, until = await self._probe(keys=[self._prefix + key], args=args)
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return int(state), int(until)

    async def release(self, key: str) -> None:
        """Give back a probe slot that was not used."""
        try:
            await self._release(keys=[self._prefix + key])
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def states(self, keys: Sequence[str]) -> list[State]:
        """Each key's state as stored (closed when nothing is), in one round trip."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(self._prefix + key, "st", "un")
                rows = await pipe.execute()
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return [(int(state or 0), int(until or 0)) for state, until in rows]

    async def listen(self, apply: Callable[[str, int, int], None]) -> None:
        """Hand every published transition to ``apply(key, state, until)`` until the connection is lost
        (then ``SharedStateUnavailable``)."""
        try:
            async with self._redis.pubsub() as pubsub:
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        _apply_event(message["data"], apply)
        except client_errors() as exc:
            raise unavailable(exc) from exc


def _apply_event(data: bytes | str, apply: Callable[[str, int, int], None]) -> None:
    """A message is ``<key>\\t<state>\\t<until>`` (the scripts' PUBLISH); one in any other shape is skipped."""
    text = data.decode() if isinstance(data, bytes) else data
    key, _, rest = text.partition("\t")
    state, _, until = rest.partition("\t")
    try:
        figures = int(state), int(until)
    except ValueError:
        return
    apply(key, *figures)
