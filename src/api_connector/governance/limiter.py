"""Which limits apply to a request, and the reservations that are settled when it ends.

With no limits configured ``rules`` answers () at once (no hashing, no await, no store): the default
path pays nothing. Rules of a subject are built once and kept until the limits change
(``configure``, called when the admin API edits them).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from api_connector.config import GatewayConfig, RateLimitConfig
from api_connector.errors import BudgetExceeded, LimitExceeded, ProviderAtLimit
from api_connector.governance.ratelimit import BudgetGate, LimitStore, MemoryLimitStore, Rule, rules_for
from api_connector.governance.settings_model import LimitsConfig, LimitSpec

_REPLICA = uuid.uuid4().hex[:12]
_holders = itertools.count(1)

Settlement = list[tuple[Rule, float, str]]  # rule, delta (units), holder of a concurrency slot


def new_holder() -> str:
    """A concurrency slot's owner, unique across replicas (the process's id and a counter)."""
    return f"{_REPLICA}:{next(_holders)}"


@dataclass(slots=True)
class Reservation:
    """What one admission took: rates charged, tokens reserved from an estimate, slots held."""

    rules: tuple[Rule, ...]
    estimated_tokens: int
    headers: dict[str, str]
    holder: str = ""

    def settlement(self, actual_tokens: int | None) -> Settlement:
        """Slots to give back, and the difference between the reserved and the real tokens."""
        out: Settlement = []
        for rule in self.rules:
            if rule.kind == "c":
                out.append((rule, -1.0, self.holder))
            elif rule.tokens and actual_tokens is not None and actual_tokens != self.estimated_tokens:
                out.append((rule, float(actual_tokens - self.estimated_tokens), ""))
        return out


async def settle(store: LimitStore, items: Settlement) -> None:
    if items:
        await store.settle([i[0] for i in items], [i[1] for i in items], [i[2] for i in items])


def provider_limited(config: GatewayConfig) -> bool:
    return any(p.rate_limit is not None for p in config.providers.values())


class CallerLimiter:
    def __init__(self, config: LimitsConfig, store: LimitStore) -> None:
        self.store = store
        # This process's own store answers at once: provider attempts take and release on it directly.
        self.memory = store if isinstance(store, MemoryLimitStore) else None
        self._provider_rules: dict[tuple[object, ...], tuple[Rule, ...]] = {}
        self.configure(config)

    def configure(self, config: LimitsConfig) -> None:
        """Apply new caller limits at once: rules are rebuilt on the next request of each subject."""
        self.config = config
        self._rules: dict[tuple[str | None, str], tuple[Rule, ...]] = {}
        self.active = bool(config.keys or config.projects or (config.default_key and not config.default_key.empty()))

    def rules(self, key_id: str | None, project_id: str) -> tuple[Rule, ...]:
        if not self.active:
            return ()
        found = self._rules.get((key_id, project_id))
        if found is None:
            burst = self.config.burst
            spec = self.config.keys.get(key_id or "") or (self.config.default_key if key_id else None)
            found = rules_for(f"key:{key_id}", spec, burst) if key_id else ()
            found += rules_for(f"project:{project_id}", self.config.projects.get(project_id), burst)
            if len(self._rules) < 100_000:  # subjects come from stored keys, but stay bounded anyway
                self._rules[(key_id, project_id)] = found
        return found

    async def admit(
        self, key_id: str | None, project_id: str, estimated_tokens: int, gates: Sequence[BudgetGate] = ()
    ) -> Reservation | None:
        rules = self.rules(key_id, project_id)
        if not rules and not gates:
            return None
        return await self.take(rules, estimated_tokens, gates)

    async def take(self, rules: tuple[Rule, ...], tokens: int, gates: Sequence[BudgetGate] = ()) -> Reservation:
        """Every rule and budget of a caller in one step (one Redis round trip), or the refusal."""
        holder = new_holder() if any(r.kind == "c" for r in rules) else ""
        costs = [float(tokens) if r.tokens else 1.0 for r in rules]
        verdict = await self.store.acquire(rules, costs, holder, gates)
        if verdict.budget >= 0:
            raise BudgetExceeded(f"{gates[verdict.budget].what} is spent")
        headers = verdict.headers(rules)
        if not verdict.allowed:
            retry_after = max(0.001, verdict.retry_after_ms / 1000)
            raise LimitExceeded("rate limit of this key or project reached", retry_after=retry_after, headers=headers)
        return Reservation(rules, tokens, headers, holder)

    def provider_rules(self, subject: str, config: RateLimitConfig) -> tuple[Rule, ...]:
        shape = (
            subject,
            config.requests_per_minute,
            config.requests_per_hour,
            config.tokens_per_minute,
            config.concurrent_requests,
        )
        rules = self._provider_rules.get(shape)
        if rules is None:
            spec = LimitSpec(
                requests_per_minute=config.requests_per_minute,
                requests_per_hour=config.requests_per_hour,
                tokens_per_minute=config.tokens_per_minute,
                concurrent=config.concurrent_requests,
            )
            rules = self._provider_rules[shape] = rules_for(f"provider:{subject}", spec, self.config.burst)
        return rules

    async def admit_provider(self, name: str, rules: tuple[Rule, ...], tokens: int, slots: bool) -> Reservation:
        """A provider credential's own quota, taken per attempt (tokens reserved from the estimate);
        refusal makes routing pass the target over (the gateway's own refusal, not the provider's fault).
        ``slots``: some rule is a concurrency slot."""
        holder = new_holder() if slots else ""
        costs = [float(tokens) if r.tokens else 1.0 for r in rules]
        verdict = await self.store.acquire(rules, costs, holder)
        if not verdict.allowed:
            raise _at_limit(name, verdict.retry_after_ms)
        return Reservation(rules, tokens, {}, holder)

    def admit_provider_now(
        self, memory: MemoryLimitStore, name: str, rules: tuple[Rule, ...], tokens: int
    ) -> Reservation:
        """``admit_provider`` on this process's store (``memory``): no await, no verdict, and no holder
        (its slots are counted, not held by name)."""
        wait_ms = memory.take(rules, tokens)
        if wait_ms:
            raise _at_limit(name, wait_ms)
        return Reservation(rules, tokens, {})


def _at_limit(name: str, wait_ms: float) -> ProviderAtLimit:
    return ProviderAtLimit(
        f"provider {name!r} is at its configured rate limit", provider=name, retry_after=max(0.001, wait_ms / 1000)
    )
