"""The shared limits: one Lua script evaluates every rule and budget of a request in one Redis round trip.

The scripts (``storage.limit_scripts``) read Redis's own clock (``TIME``) so that replicas with skewed
clocks agree. Concurrency slots are members of a sorted set scored by their lease's end: expired leases
are dropped before counting, and this process renews the leases it holds every third of a lease, so the
slots of a replica that died come free within ``LEASE_MS``. When Redis cannot be reached the deployment's
documented choice applies (``RATE_LIMIT_ON_REDIS_ERROR``): ``closed`` refuses with 503
``limiter_unavailable``; ``local`` keeps limiting in this process with every limit divided by
``RATE_LIMIT_LOCAL_SHARE`` (the replica count), so N replicas together stay near the global limit
instead of silently multiplying it by N; budgets then use this process's own count. Either way a
warning is logged.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from api_connector.core.tasks import stop
from api_connector.errors import LimiterUnavailable
from api_connector.governance.ratelimit import LEASE_MS, BudgetGate, MemoryLimitStore, Rule, Verdict
from api_connector.observability.logging import get_logger

if TYPE_CHECKING:
    from api_connector.storage.limit_scripts import LimitScripts, SettleOp

log = get_logger("api_connector.ratelimit")
SETTLE_BATCH_SECONDS = 0.005  # how long a settlement may wait to share its round trip with others
_WARN_EVERY = 30.0  # seconds between warnings while Redis stays down
_Settlement = tuple[Sequence[Rule], Sequence[float], Sequence[str]]  # rules, deltas, holders


class RedisLimitStore:
    def __init__(
        self,
        scripts: LimitScripts,
        *,
        on_error: Literal["closed", "local"] = "local",
        local_share: int = 1,
    ) -> None:
        self._scripts = scripts
        self._on_error = on_error
        self._share = max(1, local_share)
        self._local = MemoryLimitStore()
        self._warned = 0.0
        self._held: dict[str, list[str]] = {}  # holder -> the keys of its slots, renewed until released
        self._renewer: asyncio.Task[None] | None = None
        # Settlements nobody waits for, sent together: one script call per flush instead of one per request.
        self._queued: list[_Settlement] = []
        self._flush_at: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    async def acquire(
        self, rules: Sequence[Rule], costs: Sequence[float], holder: str = "", gates: Sequence[BudgetGate] = ()
    ) -> Verdict:
        spec: list[Any] = [
            [r.kind, r.interval_ms if r.kind == "g" else r.limit, r.tolerance_ms, cost]
            for r, cost in zip(rules, costs, strict=True)
        ]
        budgets = [(gate.key, gate.usd) for gate in gates] if gates else ()
        try:
            allowed, wait_ms, remaining, budget = await self._scripts.admit(
                holder, [r.key for r in rules], spec, budgets
            )
        except Exception as exc:  # the store unreachable, or anything else: the documented fallback
            return self._fallback(rules, costs, gates, exc)
        if allowed and holder:
            slots = [r.key for r in rules if r.kind == "c"]
            if slots:
                self._held[holder] = slots
        return Verdict(allowed, wait_ms, remaining, budget)

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
        ops = self._ops(batch)
        if ops:
            # The storage call is the task itself (no coroutine of ours around it): a queued settlement
            # costs the request path's process one coroutine level less on every step of its round trip.
            task = asyncio.ensure_future(self._scripts.settle(ops))
            self._flushing.add(task)  # kept referenced until done (close waits for them)
            task.add_done_callback(functools.partial(self._sent, batch))

    def _sent(self, batch: list[_Settlement], task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._lost(batch)

    async def _send(self, batch: list[_Settlement]) -> None:
        ops = self._ops(batch)
        if not ops:
            return
        try:
            await self._scripts.settle(ops)
        except Exception:
            self._lost(batch)

    def _ops(self, batch: list[_Settlement]) -> list[SettleOp]:
        """What the store is asked to apply; the slots given back are no longer renewed."""
        ops: list[SettleOp] = []
        for rules, deltas, holders in batch:
            for position, (rule, delta) in enumerate(zip(rules, deltas, strict=True)):
                holder = holders[position] if holders else ""
                if rule.kind == "c":
                    self._held.pop(holder, None)
                elif not delta:
                    continue  # nothing to give back or charge
                ops.append((rule.key, rule.kind, rule.interval_ms, delta, holder))
        return ops

    def _lost(self, batch: list[_Settlement]) -> None:
        # A lost settlement errs by one request's estimate (kept in this process's fallback); a lost slot
        # ends with its lease.
        for rules, deltas, _ in batch:
            self._local.give_back([self._local_rule(r) for r in rules], deltas)

    async def renew(self) -> None:
        """Extend the lease of every slot this process holds (one round trip)."""
        slots = [(key, holder) for holder, keys in list(self._held.items()) for key in keys]
        if slots:
            await self._scripts.renew(slots, LEASE_MS)

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
        await self._scripts.close()

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
