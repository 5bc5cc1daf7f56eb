"""The rate limiter's Lua scripts on the shared Redis: admit, settle, renew leases.

``governance.ratelimit_redis`` holds the rules (what a rule costs, when to fall back, which slots this
process holds); this module holds the scripts and the keys they live under: a rule's state at
``<prefix>rl:<rule key>``, a budget's spend at ``<prefix>budget:<subject>`` (``budget_scripts`` adds to
it). The scripts read Redis's own clock (``TIME``) so that replicas with skewed clocks agree.

Admission is the request path's one round trip: the calls asked for in one turn of the event loop go
to Redis together as prepared bytes (``redis_scripts.ScriptRunner``); each script still runs
atomically, in order. Failures come back as ``SharedStateUnavailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from api_connector.storage.budget_scripts import BUDGET_SPACE
from api_connector.storage.redis import client_errors, unavailable
from api_connector.storage.redis_scripts import ScriptRunner

if TYPE_CHECKING:
    from api_connector.storage.redis import SharedRedis

# allowed, wait (ms), what each rule has left, index of the budget that refused (-1: none)
Admission = tuple[bool, float, list[int], int]
# rule key, kind ("g" rate, "c" concurrency slot), interval (ms), delta (units), holder of the slot
SettleOp = tuple[str, str, float, float, str]
_Pending = tuple[list[str], list[str | bytes], "asyncio.Future[Admission]"]

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


class LimitScripts:
    def __init__(self, shared: SharedRedis) -> None:
        self._rules = shared.prefix + "rl:"
        self._budgets = shared.prefix + BUDGET_SPACE
        self._acquire = ScriptRunner(shared.client, _ACQUIRE)
        self._settle = ScriptRunner(shared.client, _SETTLE)
        self._renew: Any = shared.client.register_script(_RENEW)
        self._admissions: list[_Pending] = []
        self._running: set[asyncio.Task[None]] = set()

    def admit(
        self, holder: str, rule_keys: Iterable[str], spec: list[list[Any]], budgets: Sequence[tuple[str, float]]
    ) -> asyncio.Future[Admission]:
        """Check and take every rule at once, unless a budget is spent: ``spec`` holds each rule's
        ``[kind, interval_ms (a slot: its limit), tolerance_ms (a slot: its lease), cost]`` (the list is
        kept: the budgets' limits are appended to it), ``budgets`` each budget's (subject, USD limit).

        Admissions asked for in the same turn of the event loop go to Redis in one pipeline: the round
        trip and the client's per-command work are shared (under load, several arrive together)."""
        keys = [self._rules + key for key in rule_keys]
        if budgets:
            keys += [self._budgets + subject for subject, _ in budgets]
        spec.append([usd for _, usd in budgets])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Admission] = loop.create_future()
        self._admissions.append((keys, [holder, orjson.dumps(spec)], future))
        if len(self._admissions) == 1:
            loop.call_soon(self._flush_admissions)
        return future

    def _flush_admissions(self) -> None:
        batch, self._admissions = self._admissions, []
        task = asyncio.ensure_future(self._run_admissions(batch))
        self._running.add(task)  # kept referenced until done (close waits for them)
        task.add_done_callback(self._running.discard)

    async def _run_admissions(self, batch: list[_Pending]) -> None:
        try:
            answers: list[Any] = await self._acquire.run([(keys, args) for keys, args, _ in batch])
        except Exception as exc:
            answers = [exc] * len(batch)
        for (_, _, future), answer in zip(batch, answers, strict=True):
            if future.done():  # the caller went away
                continue
            if isinstance(answer, BaseException):
                error = unavailable(answer)
                error.__cause__ = answer
                future.set_exception(error)
                continue
            status = int(answer[0])
            if status == 2:  # {2, '0', budget index (1-based)}
                future.set_result((False, 0.0, [], int(answer[2]) - 1))
            else:  # {1 admitted or 0 refused, wait_ms, 0, remaining...}
                future.set_result((status == 1, float(answer[1]), [int(v) for v in answer[3:]], -1))

    async def settle(self, ops: Sequence[SettleOp]) -> None:
        """Apply ``ops`` in order in one script call: a rate moves by ``delta`` units (given back or
        charged), a concurrency rule releases its holder's slot."""
        index: dict[str, int] = {}  # each key once, however many settlements name it
        encoded = [
            [index.setdefault(self._rules + key, len(index) + 1), kind, interval_ms, delta, holder]
            for key, kind, interval_ms, delta, holder in ops
        ]
        try:
            (reply,) = await self._settle.run([(list(index), [orjson.dumps(encoded)])])
        except client_errors() as exc:
            raise unavailable(exc) from exc
        if isinstance(reply, Exception):
            raise unavailable(reply) from reply

    async def renew(self, slots: Sequence[tuple[str, str]], lease_ms: float) -> None:
        """Extend the lease of each (rule key, holder) slot still held (one round trip)."""
        keys = [self._rules + key for key, _ in slots]
        args = [repr(lease_ms), *(holder for _, holder in slots)]
        try:
            await self._renew(keys=keys, args=args)
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def close(self) -> None:
        """Wait for the admissions on their way."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
