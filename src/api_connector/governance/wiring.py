"""Builds the governance of one process: limits, budgets, cache, coalescing, costs and quotas.

A governed call holds a ``Scope`` (opened by the pipeline's limits layer): the caller's admission
(limits and budgets, one store call), the provider reservation of the current attempt (rates,
estimated tokens and a concurrency slot, one store call, taken by ``before_attempt``), and at the end
one settlement of both (slots back, tokens corrected to the real usage), sent in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from api_connector.core.usage import Usage
from api_connector.errors import ProviderAtLimit
from api_connector.governance.budgets import Budgets, SpendSource
from api_connector.governance.cache import MemoryCache, RedisCache, ResponseCache
from api_connector.governance.coalesce import Coalescer
from api_connector.governance.cost import CostModel
from api_connector.governance.limiter import CallerLimiter, Reservation, Settlement, provider_limited, settle
from api_connector.governance.live import LiveLimits
from api_connector.governance.provider_limits import CredentialLimits, CredentialLimitsTable
from api_connector.governance.quota import QuotaTracker
from api_connector.governance.ratelimit import LimitStore, MemoryLimitStore, Rule
from api_connector.governance.ratelimit_redis import RedisLimitStore
from api_connector.routing.catalog import Route, Target
from api_connector.storage.budget_scripts import BudgetCounters
from api_connector.storage.cache_scripts import CacheEntries

if TYPE_CHECKING:
    from api_connector.config import GatewayConfig
    from api_connector.observability.alerts import AlertManager
    from api_connector.settings import Settings
    from api_connector.storage.db import Database
    from api_connector.storage.redis import SharedRedis
    from api_connector.storage.shared_state import SharedState


@dataclass(slots=True)
class Scope:
    """One governed request: what it holds and how many tokens it is expected to use."""

    estimate: Callable[[], int] | None = None
    caller: Reservation | None = None
    attempt: Reservation | None = None  # the provider reservation of the attempt in progress
    actual_tokens: int | None = None  # the real usage, once known
    ended: bool = False
    _tokens: int | None = None

    def tokens(self) -> int:
        if self._tokens is None:
            self._tokens = self.estimate() if self.estimate is not None else 0
        return self._tokens

    @property
    def headers(self) -> dict[str, str]:
        """``x-ratelimit-*`` of the caller's limits, for every answer (streams included)."""
        return self.caller.headers if self.caller is not None else {}


@dataclass(slots=True)
class Governance:
    limiter: CallerLimiter
    cache: ResponseCache
    coalescer: Coalescer
    costs: CostModel
    budgets: Budgets
    quota: QuotaTracker
    live: LiveLimits | None = None
    default_ttl: int | None = None
    stale_if_error: int | None = None  # the cache section's stale window (routes and requests may set theirs)
    provider_limits: bool = False  # some provider has a rate_limit: attempts need a scope
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _credentials: CredentialLimitsTable = field(init=False)

    def __post_init__(self) -> None:
        self._credentials = CredentialLimitsTable(self.limiter)

    @property
    def gates(self) -> bool:
        """Whether a request must run in a scope (False: nothing configured, nothing to pay)."""
        return self.limiter.active or self.budgets.active or self.provider_limits

    def close_scope(self, scope: Scope) -> None:
        """Give back what the call held and correct its tokens to the real usage (in the background)."""
        scope.ended = True
        caller, attempt = scope.caller, scope.attempt
        if caller is None and attempt is None:
            return
        scope.caller = scope.attempt = None
        memory = self.limiter.memory
        if memory is not None:  # at once, without building the settlement
            if caller is not None:
                memory.release(caller.rules, caller.estimated_tokens, scope.actual_tokens)
            if attempt is not None:
                memory.release(attempt.rules, attempt.estimated_tokens, scope.actual_tokens)
            return
        items: Settlement = []
        for reservation in (caller, attempt):
            if reservation is not None:
                items += reservation.settlement(scope.actual_tokens)
        self._settle(items)

    def admit(self, project_id: str, key_id: str | None, scope: Scope) -> Awaitable[Reservation] | None:
        """The caller's limits and budgets in one step (one Redis round trip), to await; None when the
        caller has none (then there is nothing to wait for)."""
        gates = self.budgets.gates(project_id, key_id)
        rules = self.limiter.rules(key_id, project_id)
        if not rules and not gates:
            return None
        tokens = scope.tokens() if any(r.tokens for r in rules) else 0
        return self.limiter.take(rules, tokens, gates)

    def _settle(self, items: Settlement) -> None:
        if not items:
            return
        store = self.limiter.store
        if isinstance(store, MemoryLimitStore):
            store.give_back([i[0] for i in items], [i[1] for i in items])
            return
        if isinstance(store, RedisLimitStore):
            store.settle_soon([i[0] for i in items], [i[1] for i in items], [i[2] for i in items])
            return
        task = asyncio.ensure_future(settle(store, items))  # nobody waits for a settlement
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def account(
        self, project_id: str, key_id: str | None, target: Target, usage: Usage, scoped: bool = True
    ) -> float | None:
        """After a success: its cost in USD (None when unpriced), charged to the budgets."""
        limits = target.instance.config.rate_limit if target.instance.config is not None else None
        # Outside a scope nothing reserved tokens: charge the provider's minute with the real ones.
        if limits is not None and limits.tokens_per_minute and usage.total_tokens and not scoped:
            rules = self._credentials.get(target, limits).rules
            self._settle([(r, float(usage.total_tokens), "") for r in rules if r.tokens])
        cost = self.costs.cost(target, usage)
        if cost:
            self.budgets.add(project_id, key_id, cost)
        return cost

    # -- around each attempt (the pipeline's dispatch layer) ---------------------------------
    def before_attempt(self, target: Target, scope: Scope | None, remaining: float | None) -> Awaitable[None] | None:
        """The provider credential's own limits, before an attempt may be sent to ``target``: None when
        decided at once (this process's store admitted it), else what to await.

        A refusal is ``ProviderAtLimit``: routing passes the target over (never the provider's fault).
        With ``rate_limit.max_wait`` the call first waits for the next slot, up to that bound and
        within what is left of its deadline.
        """
        config = target.instance.config
        if config is None or config.rate_limit is None:
            return None
        credential = self._credentials.get(target, config.rate_limit)
        previous: Reservation | None = None
        if scope is None or scope.ended:
            # Not in a governed call (the first request after a project's provider gained limits): rates
            # only, as nobody would give a slot back. The flag puts every later call in a scope.
            self.provider_limits = True
            if not credential.rates:
                return None
            scope, rules, tokens, slots = None, credential.rates, 0, False
        else:
            rules, slots = credential.rules, credential.slots
            tokens = scope.tokens() if credential.tokens else 0
            # Failover or retry: the previous attempt is over. Its slot and reserved tokens come back
            # first (before the next attempt, which may ask the same credential for a slot).
            previous, scope.attempt = scope.attempt, None
        memory = self.limiter.memory
        if memory is None:
            asking = _Asking(target, credential, rules, tokens, slots, scope, remaining)
            return self._admit_later(asking, previous.settlement(0) if previous is not None else [], None)
        if previous is not None:
            memory.release(previous.rules, previous.estimated_tokens, 0)
        try:
            reservation = self.limiter.admit_provider_now(memory, target.instance.name, rules, tokens)
        except ProviderAtLimit as refusal:
            return self._admit_later(_Asking(target, credential, rules, tokens, slots, scope, remaining), [], refusal)
        if scope is not None:
            scope.attempt = reservation
        return None

    async def _admit_later(self, asking: _Asking, previous: Settlement, refusal: ProviderAtLimit | None) -> None:
        """``before_attempt`` when it cannot decide at once: on a shared store (the previous attempt's
        settlement awaited, then one round trip), or after a ``refusal``, waiting for the next slot
        within ``max_wait`` and the call's deadline before asking again."""
        await settle(self.limiter.store, previous)
        memory = self.limiter.memory
        name = asking.target.instance.name
        waited = 0.0
        while True:
            if refusal is not None:
                wait = refusal.retry_after or 0.0
                budget = asking.credential.limits.max_wait - waited
                if asking.remaining is not None:
                    budget = min(budget, asking.remaining - waited)
                if wait <= 0 or wait > budget:
                    raise refusal
                # A slot frees in ``wait`` seconds (the limiter's own figure): ask again then.
                await asyncio.sleep(wait)
                waited += wait
            try:
                if memory is not None:
                    reservation = self.limiter.admit_provider_now(memory, name, asking.rules, asking.tokens)
                else:
                    reservation = await self.limiter.admit_provider(name, asking.rules, asking.tokens, asking.slots)
                break
            except ProviderAtLimit as again:
                refusal = again
        if asking.scope is not None and not asking.scope.ended:
            asking.scope.attempt = reservation

    def after_attempt(self, target: Target, status: int, headers: Mapping[str, str]) -> None:
        self.quota.observe(target.key, status, headers, target.instance.spec.rate_limit_headers)

    def steer(self, route: Route) -> Route:
        return self.quota.steer(route)

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self, usage: SpendSource, alerts: AlertManager | None = None) -> None:
        """At start-up, after migrations: stored limits applied, budgets' spend rebuilt, sync started."""
        if alerts is not None:
            self.budgets.alert = alerts.notify
        if self.live is not None:
            await self.live.start()
        await self.budgets.rebuild(usage)
        self.limiter.store.start()

    async def close(self) -> None:
        if self.live is not None:
            await self.live.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.budgets.close()
        await self.limiter.store.close()


class _Asking(NamedTuple):
    """One attempt's request to a provider credential's limits."""

    target: Target
    credential: CredentialLimits
    rules: tuple[Rule, ...]
    tokens: int  # reserved from token rules
    slots: bool  # some rule is a concurrency slot
    scope: Scope | None  # None: outside a governed call, nothing is kept to give back
    remaining: float | None  # of the call's deadline, seconds


def build_governance(
    settings: Settings,
    config: GatewayConfig,
    shared: SharedRedis | None,
    state: SharedState | None = None,
    database: Database | None = None,
) -> Governance:
    """``shared``: the shared Redis (None: everything in this process), ``state`` its small shared values."""
    store: LimitStore
    cache: ResponseCache
    counters: BudgetCounters | None = None
    if shared is not None:
        # Imported only with Redis: the limiter's scripts load the client library.
        from api_connector.storage.limit_scripts import LimitScripts

        store = RedisLimitStore(
            LimitScripts(shared),
            on_error=settings.rate_limit_on_redis_error,
            local_share=settings.rate_limit_local_share,
        )
        cache = RedisCache(CacheEntries(shared), config.cache.max_entry_bytes)
        counters = BudgetCounters(shared)
    else:
        store = MemoryLimitStore()
        cache = MemoryCache(config.cache.max_entries, config.cache.max_entry_bytes)
    limiter = CallerLimiter(config.limits, store)
    quota = QuotaTracker()
    live = None
    if database is not None:
        live = LiveLimits(config.limits, limiter, database, state, quota)
    return Governance(
        limiter=limiter,
        cache=cache,
        coalescer=Coalescer(),
        costs=CostModel(config.prices),
        budgets=Budgets(config.budgets, counters),
        quota=quota,
        live=live,
        default_ttl=config.cache.default_ttl,
        stale_if_error=config.cache.stale_if_error,
        provider_limits=provider_limited(config),
    )
