"""The shared limits: one Lua script evaluates every rule of a request in one Redis round trip.

The script reads Redis's own clock (``TIME``) so that replicas with skewed clocks agree. When Redis
cannot be reached the deployment's documented choice applies (``RATE_LIMIT_ON_REDIS_ERROR``):
``closed`` refuses with 503 ``limiter_unavailable``; ``local`` keeps limiting in this process with
every limit divided by ``RATE_LIMIT_LOCAL_SHARE`` (the replica count), so N replicas together stay
near the global limit instead of silently multiplying it by N. Either way a warning is logged.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from api_connector.errors import LimiterUnavailable
from api_connector.governance.ratelimit import MemoryLimitStore, Rule, Verdict
from api_connector.observability.logging import get_logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger("api_connector.ratelimit")
_WARN_EVERY = 30.0  # seconds between warnings while Redis stays down

# ARGV per rule: kind, interval_ms (or limit for "c"), tolerance_ms, cost. Answers {allowed, wait_ms, remaining...}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local wait = 0
local out = {}
local new = {}
for i = 1, #KEYS do
  local b = (i - 1) * 4
  local kind, a, tol, cost = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if kind == 'g' then
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local ntat = tat + cost * a
    if ntat - now - tol > wait then wait = ntat - now - tol end
    new[i] = ntat
    out[i] = math.floor((tol - (ntat - now)) / a)
  else
    local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
    if cur + cost > a and 1000 > wait then wait = 1000 end
    new[i] = cost
    out[i] = a - cur - cost
  end
end
if wait > 0 then return {0, tostring(wait), unpack(out)} end
for i = 1, #KEYS do
  local b = (i - 1) * 4
  if ARGV[b + 1] == 'g' then
    redis.call('SET', KEYS[i], string.format('%.3f', new[i]), 'PX', math.ceil(new[i] - now) + 1000)
  else
    redis.call('INCRBY', KEYS[i], new[i])
    redis.call('PEXPIRE', KEYS[i], 600000)
  end
end
return {1, '0', unpack(out)}
"""

# ARGV per rule: kind, interval_ms, delta. Gives back (negative delta) or charges the difference.
_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
for i = 1, #KEYS do
  local b = (i - 1) * 3
  local kind, a, delta = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  if kind == 'g' then
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat > 0 then
      local ntat = math.max(now, tat + delta * a)
      redis.call('SET', KEYS[i], string.format('%.3f', ntat), 'PX', math.ceil(ntat - now) + 1000)
    end
  else
    local v = redis.call('DECRBY', KEYS[i], -delta)
    if v < 0 then redis.call('SET', KEYS[i], 0, 'PX', 600000) end
  end
end
return 1
"""


class RedisLimitStore:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        on_error: Literal["closed", "local"] = "local",
        local_share: int = 1,
    ) -> None:
        self._redis = redis
        self._prefix = prefix + "rl:"
        self._acquire: Any = redis.register_script(_ACQUIRE)
        self._settle: Any = redis.register_script(_SETTLE)
        self._on_error = on_error
        self._share = max(1, local_share)
        self._local = MemoryLimitStore()
        self._warned = 0.0

    async def acquire(self, rules: Sequence[Rule], costs: Sequence[float]) -> Verdict:
        args: list[str | float] = []
        for rule, cost in zip(rules, costs, strict=True):
            first = rule.interval_ms if rule.kind == "g" else rule.limit
            args += [rule.kind, repr(float(first)), repr(rule.tolerance_ms), repr(float(cost))]
        try:
            answer = await self._acquire(keys=[self._prefix + r.key for r in rules], args=args)
        except Exception as exc:  # redis errors and socket errors alike: the documented fallback
            return self._fallback(rules, costs, exc)
        return Verdict(bool(int(answer[0])), float(answer[1]), [int(v) for v in answer[2:]])

    async def settle(self, rules: Sequence[Rule], deltas: Sequence[float]) -> None:
        args: list[str] = []
        for rule, delta in zip(rules, deltas, strict=True):
            args += [rule.kind, repr(rule.interval_ms), repr(float(delta))]
        try:
            await self._settle(keys=[self._prefix + r.key for r in rules], args=args)
        except Exception:  # a lost settlement only errs by one request's estimate; the next one corrects
            self._local.give_back([self._local_rule(r) for r in rules], deltas)

    def _local_rule(self, rule: Rule) -> Rule:
        if self._share == 1:
            return rule
        limit = max(1, rule.limit // self._share)
        if rule.kind == "c":
            return replace(rule, limit=limit)
        interval = rule.interval_ms * self._share
        allowance = max(1.0, rule.tolerance_ms / rule.interval_ms / self._share)  # the burst, shared too
        return replace(rule, limit=limit, interval_ms=interval, tolerance_ms=interval * allowance)

    def _fallback(self, rules: Sequence[Rule], costs: Sequence[float], exc: Exception) -> Verdict:
        now = time.monotonic()
        if now - self._warned > _WARN_EVERY:
            self._warned = now
            log.warning("rate-limit store unreachable", fallback=self._on_error, error=type(exc).__name__)
        if self._on_error == "closed":
            raise LimiterUnavailable("rate limits cannot be checked right now (shared store unreachable)")
        return self._local.check([self._local_rule(r) for r in rules], costs)
