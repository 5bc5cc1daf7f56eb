"""Rate limits of callers (gateway key, project) and providers: requests per minute and per hour,
tokens per minute, concurrent requests; and the budget gates checked in the same step.

Rates use GCRA (a "theoretical arrival time" per subject): O(1) state, exact, and with a burst
tolerance of ``burst`` x limit a window of any minute never admits more than ``limit x (1 + burst)``.
Tokens are reserved from an estimate before the call and settled with the real usage after (the
difference is given back or charged). Concurrency is a slot taken before and given back after; in
Redis each slot is a lease of its holder that expires unless renewed, so a replica that dies does not
keep its slots.

Every rule of one request is checked in one step and applied only if all pass, so a refusal never
consumes another limit. ``MemoryLimitStore`` is this process's equivalent of the Redis script behind
``ratelimit_redis`` (``storage.limit_scripts``); both answer the same ``Verdict``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from api_connector.governance.settings_model import LimitSpec

Kind = Literal["g", "c"]  # GCRA rate, concurrency slot
_CONCURRENCY_RETRY_MS = 1000.0
# How long a concurrency slot outlives its holder's last renewal (Redis); holders renew every third.
LEASE_MS = 30_000.0


@dataclass(frozen=True, slots=True)
class Rule:
    """One limit on one subject. For rates ``interval_ms`` is the time one unit costs; for
    concurrency ``tolerance_ms`` is the lease of a slot."""

    key: str  # e.g. "key:key_abc:rpm"
    kind: Kind
    limit: int
    interval_ms: float = 0.0  # period / limit
    tolerance_ms: float = 0.0  # how far ahead of now the arrival time may run (the burst)
    tokens: bool = False  # charged by tokens rather than by requests
    header: str = "requests"  # x-ratelimit-*-<header>

    @classmethod
    def rate(cls, key: str, limit: int, period_s: float, burst: float, *, tokens: bool = False) -> Rule:
        interval = period_s * 1000.0 / limit
        # Token limits allow a whole period's worth at once: one request may legitimately use many tokens.
        allowance = limit if tokens else max(1, int(limit * burst))
        header = "tokens" if tokens else ("requests" if period_s <= 60 else "requests-hour")
        return cls(key, "g", limit, interval, interval * allowance, tokens, header)

    @classmethod
    def concurrency(cls, key: str, limit: int) -> Rule:
        return cls(key, "c", limit, tolerance_ms=LEASE_MS, header="concurrent")


def rules_for(prefix: str, spec: LimitSpec | None, burst: float) -> tuple[Rule, ...]:
    if spec is None:
        return ()
    rules: list[Rule] = []
    # A rate's state is a time measured in its own interval: a changed limit starts a state of its own
    # (the limit is part of the key) rather than reading one kept in another unit.
    if spec.requests_per_minute:
        rules.append(Rule.rate(f"{prefix}:rpm:{spec.requests_per_minute}", spec.requests_per_minute, 60, burst))
    if spec.requests_per_hour:
        rules.append(Rule.rate(f"{prefix}:rph:{spec.requests_per_hour}", spec.requests_per_hour, 3600, burst))
    if spec.tokens_per_minute:
        limit = spec.tokens_per_minute
        rules.append(Rule.rate(f"{prefix}:tpm:{limit}", limit, 60, burst, tokens=True))
    if spec.concurrent:
        rules.append(Rule.concurrency(prefix + ":conc", spec.concurrent))
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class BudgetGate:
    """A spending budget checked with the limits: refused when the period's spend reached ``usd``.

    ``key`` is the budget's subject (``project:<id>:<period>``), which names its shared spend counter;
    ``local`` the spend this process knows, which is what the memory store reads and what the Redis
    store falls back to when Redis cannot answer."""

    key: str
    usd: float
    local: float
    what: str  # "the project's budget of 5 USD for this month"


@dataclass(slots=True)
class Verdict:
    allowed: bool
    retry_after_ms: float
    remaining: list[int]  # per rule, after this request (or as it stands when refused)
    budget: int = -1  # index of the budget gate that refused, -1 when none did

    def headers(self, rules: Sequence[Rule]) -> dict[str, str]:
        """``x-ratelimit-*`` of the most constrained rule of each kind (the OpenAI-style names)."""
        out: dict[str, str] = {}
        seen: dict[str, int] = {}
        for rule, left in zip(rules, self.remaining, strict=False):
            if rule.header in seen and seen[rule.header] <= left:
                continue
            seen[rule.header] = left
            out[f"x-ratelimit-limit-{rule.header}"] = str(rule.limit)
            out[f"x-ratelimit-remaining-{rule.header}"] = str(max(0, left))
            if rule.kind == "g":
                # Time until the subject is back to a full allowance.
                used = max(0, rule.limit - max(0, left))
                out[f"x-ratelimit-reset-{rule.header}"] = f"{used * rule.interval_ms / 1000:.3f}s"
        return out


class LimitStore(Protocol):
    async def acquire(
        self, rules: Sequence[Rule], costs: Sequence[float], holder: str = "", gates: Sequence[BudgetGate] = ()
    ) -> Verdict: ...

    async def settle(self, rules: Sequence[Rule], deltas: Sequence[float], holders: Sequence[str] = ()) -> None:
        """Give back or charge rates by ``deltas``; release the slot of each concurrency rule's holder."""

    def start(self) -> None:
        """Background work of the store (renewing leases), started with the service."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class MemoryLimitStore:
    """One process's limits. No await inside: the check and the update are one atomic step.

    Concurrency is a plain counter here: a process that dies takes its slots with it."""

    clock: Callable[[], float] = time.monotonic
    _tat: dict[str, float] = field(default_factory=dict)
    _count: dict[str, int] = field(default_factory=dict)

    def check(self, rules: Sequence[Rule], costs: Sequence[float], gates: Sequence[BudgetGate] = ()) -> Verdict:
        for index, gate in enumerate(gates):
            if gate.local >= gate.usd:
                return Verdict(False, 0.0, [], index)
        now = self.clock() * 1000.0
        wait = 0.0
        remaining: list[int] = []
        updates: list[float] = []
        for rule, cost in zip(rules, costs, strict=True):
            if rule.kind == "g":
                new_tat = max(self._tat.get(rule.key, now), now) + cost * rule.interval_ms
                wait = max(wait, new_tat - now - rule.tolerance_ms)
                remaining.append(int((rule.tolerance_ms - (new_tat - now)) // rule.interval_ms))
                updates.append(new_tat)
            else:
                current = self._count.get(rule.key, 0)
                if current + 1 > rule.limit:
                    wait = max(wait, _CONCURRENCY_RETRY_MS)
                remaining.append(rule.limit - current - 1)
                updates.append(current + 1)
        if wait > 0:
            return Verdict(False, wait, remaining)
        for rule, value in zip(rules, updates, strict=True):
            if rule.kind == "g":
                self._tat[rule.key] = value
            else:
                self._count[rule.key] = int(value)
        return Verdict(True, 0.0, remaining)

    async def acquire(
        self, rules: Sequence[Rule], costs: Sequence[float], holder: str = "", gates: Sequence[BudgetGate] = ()
    ) -> Verdict:
        return self.check(rules, costs, gates)

    def take(self, rules: Sequence[Rule], tokens: int) -> float:
        """``check`` for a provider attempt, whose figures nobody reads: every rule costs one request, or
        ``tokens`` for a token rule; applied only if all pass. Answers 0.0 when admitted, else the wait
        in milliseconds (``check``'s ``retry_after_ms``), without building costs, ``remaining`` or a verdict."""
        now = self.clock() * 1000.0
        tats = self._tat
        wait = 0.0
        updates: list[float] = []
        for rule in rules:
            if rule.kind == "g":
                tat = tats.get(rule.key, now)
                new_tat = (tat if tat > now else now) + (tokens if rule.tokens else 1.0) * rule.interval_ms
                over = new_tat - now - rule.tolerance_ms
                if over > wait:
                    wait = over
                updates.append(new_tat)
            else:
                current = self._count.get(rule.key, 0)
                if current >= rule.limit and wait < _CONCURRENCY_RETRY_MS:
                    wait = _CONCURRENCY_RETRY_MS
                updates.append(current + 1)
        if wait > 0:
            return wait
        # An index of our own: zip or enumerate cost more than the loop itself for a few rules.
        index = 0
        for rule in rules:
            if rule.kind == "g":
                tats[rule.key] = updates[index]
            else:
                self._count[rule.key] = int(updates[index])
            index += 1  # noqa: SIM113 - see above
        return 0.0

    def give_back(self, rules: Sequence[Rule], deltas: Sequence[float]) -> None:
        """Rates move by ``delta`` units; a concurrency rule in the list gives its slot back."""
        now = self.clock() * 1000.0
        for rule, delta in zip(rules, deltas, strict=True):
            if rule.kind == "c":
                self._count[rule.key] = max(0, self._count.get(rule.key, 0) - 1)
            elif delta:
                tat = self._tat.get(rule.key)
                if tat is not None:
                    self._tat[rule.key] = max(now, tat + delta * rule.interval_ms)

    def release(self, rules: Sequence[Rule], reserved: int, used: int | None) -> None:
        """``give_back`` of what one admission took, at its end (``Reservation.settlement``'s items
        without building them): its concurrency slots, and on token rules the difference between the
        tokens ``reserved`` and those ``used`` (None: not known, nothing corrected)."""
        for rule in rules:
            if rule.kind == "c":
                self._count[rule.key] = max(0, self._count.get(rule.key, 0) - 1)
            elif rule.tokens and used is not None and used != reserved:
                tat = self._tat.get(rule.key)
                if tat is not None:
                    tat += (used - reserved) * rule.interval_ms
                    now = self.clock() * 1000.0
                    self._tat[rule.key] = tat if tat > now else now

    async def settle(self, rules: Sequence[Rule], deltas: Sequence[float], holders: Sequence[str] = ()) -> None:
        self.give_back(rules, deltas)

    def start(self) -> None:  # nothing runs in the background: a process's slots end with it
        pass

    async def close(self) -> None:
        pass
