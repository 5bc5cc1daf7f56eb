"""The shared limits: one Lua script evaluates every rule and budget of a request in one Redis round trip.

The script reads Redis's own clock (``TIME``) so that replicas with skewed clocks agree. Concurrency
slots are members of a sorted set scored by their lease's end: expired leases are dropped before
counting, and this process renews the leases it holds every third of a lease, so the slots of a
replica that died come free within ``LEASE_MS``. When Redis cannot be reached the deployment's
documented choice applies (``RATE_LIMIT_ON_REDIS_ERROR``): ``closed`` refuses with 503
``limiter_unavailable``; ``local`` keeps limiting in this process with every limit divided by
``RATE_LIMIT_LOCAL_SHARE`` (the replica count), so N replicas together stay near the global limit
instead of silently multiplying it by N; budgets then use this process's own count. Either way a
warning is logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import orjson

from api_connector.core.tasks import stop
from api_connector.errors import LimiterUnavailable
from api_connector.governance.ratelimit import LEASE_MS, BudgetGate, MemoryLimitStore, Rule, Verdict
from api_connector.governance.redis_scripts import ScriptRunner
from api_connector.observability.logging import get_logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger("api_connector.ratelimit")
SETTLE_BATCH_SECONDS = 0.005  # how long a settlement may wait to share its round trip with others
_WARN_EVERY = 30.0  # seconds between warnings while Redis stays down

# The scripts take their figures as one JSON argument (decoded by Redis's cjson): the client then encodes
# a handful of arguments per call instead of four per rule, which was most of its work per request.
#
# KEYS: the rules' keys, then the budgets' spend counters. ARGV[1]: holder; ARGV[2]: JSON
# [[kind, interval_ms (or limit for "c"), tolerance_ms (or lease_ms), cost] per rule..., [USD per budget...]].
# Answers {status, wait_ms, budget index, remaining...}: status 1 admitted, 0 refused by a limit,
# 2 refused by the budget at that (1-based) index. A spent budget refuses before any limit moves.
_ACQUIRE = """
local holder = ARGV[1]
local spec = cjson.decode(ARGV[2])
local gates = spec[#spec]
local n = #spec - 1
for j = 1, #gates do
  if tonumber(redis.call('GET', KEYS[n + j]) or '0') >= gates[j] then
    return {2, '0', j}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local wait = 0
local out = {}
local new = {}
for i = 1, n do
  local kind, a, tol, cost = spec[i][1], spec[i][2], spec[i][3], spec[i][4]
  if kind == 'g' then
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local ntat = tat + cost * a
    if ntat - now - tol > wait then wait = ntat - now - tol end
    new[i] = ntat
    out[i] = math.floor((tol - (ntat - now)) / a)
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local cur = redis.call('ZCARD', KEYS[i])
    if cur + 1 > a and 1000 > wait then wait = 1000 end
    new[i] = now + tol
    out[i] = a - cur - 1
  end
end
if wait > 0 then return {0, tostring(wait), 0, unpack(out)} end
for i = 1, n do
  if spec[i][1] == 'g' then
    redis.call('SET', KEYS[i], string.format('%.3f', new[i]), 'PX', math.ceil(new[i] - now) + 1000)
  else
    redis.call('ZADD', KEYS[i], new[i], holder)
    redis.call('PEXPIRE', KEYS[i], math.ceil(new[i] - now) + 1000)
  end
end
return {1, '0', 0, unpack(out)}
"""

# KEYS: each key once. ARGV[1]: JSON [[key index (1-based), kind, interval_ms, delta, holder]...], applied
# in order. A rate gives back (negative delta) or charges the difference; a concurrency rule releases
# the holder's slot.
_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
for _, op in ipairs(cjson.decode(ARGV[1])) do
  local key, kind, a, delta = KEYS[op[1]], op[2], op[3], op[4]
  if kind == 'g' then
    local tat = tonumber(redis.call('GET', key) or '0')
    if tat > 0 then
      local ntat = math.max(now, tat + delta * a)
      redis.call('SET', key, string.format('%.3f', ntat), 'PX', math.ceil(ntat - now) + 1000)
    end
  else
    redis.call('ZREM', key, op[5])
  end
end
return 1
"""

# KEYS: slot sets; ARGV: lease_ms, then the holder of each key. Extends leases still held (XX).
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local lease = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(lease) + 1000)
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
        self._acquire = ScriptRunner(redis, _ACQUIRE)
        self._settle = ScriptRunner(redis, _SETTLE)
        self._renew: Any = redis.register_script(_RENEW)
        self._on_error = on_error
        self._share = max(1, local_share)
        self._local = MemoryLimitStore()
        self._warned = 0.0
        self._held: dict[str, list[str]] = {}  # holder -> its slot sets, renewed until released
        self._renewer: asyncio.Task[None] | None = None
        # Settlements nobody waits for, sent together: one script call per flush instead of one per request.
        self._queued: list[tuple[Sequence[Rule], Sequence[float], Sequence[str]]] = []
        self._flush_at: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self._admissions: list[tuple[list[str], list[str | bytes], asyncio.Future[Any]]] = []

    async def acquire(
        self, rules: Sequence[Rule], costs: Sequence[float], holder: str = "", gates: Sequence[BudgetGate] = ()
    ) -> Verdict:
        spec: list[Any] = [
            [r.kind, r.interval_ms if r.kind == "g" else r.limit, r.tolerance_ms, cost]
            for r, cost in zip(rules, costs, strict=True)
        ]
        spec.append([gate.usd for gate in gates])
        args: list[str | bytes] = [holder, orjson.dumps(spec)]
        keys = [self._prefix + r.key for r in rules] + [gate.key for gate in gates]
        try:
            answer = await self._admit(keys, args)
        except Exception as exc:  # redis errors and socket errors alike: the documented fallback
            return self._fallback(rules, costs, gates, exc)
        status = int(answer[0])
        if status == 2:
            return Verdict(False, 0.0, [], int(answer[2]) - 1)
        verdict = Verdict(status == 1, float(answer[1]), [int(v) for v in answer[3:]])
        if verdict.allowed and holder:
            slots = [self._prefix + r.key for r in rules if r.kind == "c"]
            if slots:
                self._held[holder] = slots
        return verdict

    def _admit(self, keys: list[str], args: list[str | bytes]) -> asyncio.Future[Any]:
        """The admission script's answer. Admissions asked for in the same turn of the event loop go
        to Redis in one pipeline: each script still runs atomically, in order, but the round trip and
        the client's per-command work are shared (under load, several arrive together)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._admissions.append((keys, args, future))
        if len(self._admissions) == 1:
            asyncio.get_running_loop().call_soon(self._flush_admissions)
        return future

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a batch in the background, kept referenced until done (close waits for them)."""
        task = asyncio.ensure_future(work)
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    def _flush_admissions(self) -> None:
        batch, self._admissions = self._admissions, []
        self._spawn(self._run_admissions(batch))

    async def _run_admissions(self, batch: list[tuple[list[str], list[str | bytes], asyncio.Future[Any]]]) -> None:
        try:
            answers: list[Any] = await self._acquire.run([(keys, args) for keys, args, _ in batch])
        except Exception as exc:
            answers = [exc] * len(batch)
        for (_, _, future), answer in zip(batch, answers, strict=True):
            if future.done():  # the caller went away
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def settle(self, rules: Sequence[Rule], deltas: Sequence[float], holders: Sequence[str] = ()) -> None:
        await self._send([(rules, deltas, holders)])

    def settle_soon(self, rules: Sequence[Rule], deltas: Sequence[float], holders: Sequence[str] = ()) -> None:
        """A settlement nobody waits for: queued and sent with the others of the next few milliseconds."""
        self._queued.append((rules, deltas, holders))
        if self._flush_at is None:
            self._flush_at = asyncio.get_running_loop().call_later(SETTLE_BATCH_SECONDS, self._flush_queued)

    def _flush_queued(self) -> None:
        self._flush_at = None
        batch, self._queued = self._queued, []
        if batch:
            self._spawn(self._send(batch))

    async def _send(self, batch: list[tuple[Sequence[Rule], Sequence[float], Sequence[str]]]) -> None:
        index: dict[str, int] = {}  # each key once, however many settlements name it
        ops: list[list[Any]] = []
        for rules, deltas, holders in batch:
            for position, (rule, delta) in enumerate(zip(rules, deltas, strict=True)):
                holder = holders[position] if holders else ""
                if rule.kind == "c":
                    self._held.pop(holder, None)
                elif not delta:
                    continue  # nothing to give back or charge
                key = self._prefix + rule.key
                number = index.setdefault(key, len(index) + 1)
                ops.append([number, rule.kind, rule.interval_ms, delta, holder])
        if not ops:
            return
        try:
            (reply,) = await self._settle.run([(list(index), [orjson.dumps(ops)])])
            if isinstance(reply, Exception):
                raise reply
        except Exception:  # a lost settlement errs by one request's estimate; a lost slot ends with its lease
            for rules, deltas, _ in batch:
                self._local.give_back([self._local_rule(r) for r in rules], deltas)

    async def renew(self) -> None:
        """Extend the lease of every slot this process holds (one round trip)."""
        keys: list[str] = []
        args: list[str] = [repr(LEASE_MS)]
        for holder, slots in list(self._held.items()):
            keys += slots
            args += [holder] * len(slots)
        if keys:
            await self._renew(keys=keys, args=args)

    def start(self) -> None:
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_forever())

    async def close(self) -> None:
        await stop(self._renewer)
        self._renewer = None
        if self._flush_at is not None:
            self._flush_at.cancel()
        self._flush_queued()  # what is queued still reaches Redis before the connection closes
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(LEASE_MS / 3000)
            try:
                await self.renew()
            except Exception:  # Redis down: the leases may lapse, which frees slots rather than leaks them
                log.warning("could not renew concurrency leases")

    def _local_rule(self, rule: Rule) -> Rule:
        if self._share == 1:
            return rule
        limit = max(1, rule.limit // self._share)
        if rule.kind == "c":
            return replace(rule, limit=limit)
        interval = rule.interval_ms * self._share
        allowance = max(1.0, rule.tolerance_ms / rule.interval_ms / self._share)  # the burst, shared too
        return replace(rule, limit=limit, interval_ms=interval, tolerance_ms=interval * allowance)

    def _fallback(
        self, rules: Sequence[Rule], costs: Sequence[float], gates: Sequence[BudgetGate], exc: Exception
    ) -> Verdict:
        now = time.monotonic()
        if now - self._warned > _WARN_EVERY:
            self._warned = now
            log.warning("rate-limit store unreachable", fallback=self._on_error, error=type(exc).__name__)
        if self._on_error == "closed":
            raise LimiterUnavailable("rate limits cannot be checked right now (shared store unreachable)")
        return self._local.check([self._local_rule(r) for r in rules], costs, gates)
