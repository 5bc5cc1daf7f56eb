"""Builds the governance layer of one process and the small hooks the dispatcher and recorder call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api_connector.core.usage import Usage
from api_connector.governance.budgets import Budgets
from api_connector.governance.cache import MemoryCache, RedisCache, ResponseCache
from api_connector.governance.coalesce import Coalescer
from api_connector.governance.cost import CostModel
from api_connector.governance.limiter import CallerLimiter, Reservation
from api_connector.governance.quota import QuotaTracker
from api_connector.governance.ratelimit import LimitStore, MemoryLimitStore
from api_connector.routing.catalog import Route, Target

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from api_connector.config import GatewayConfig
    from api_connector.settings import Settings


@dataclass(slots=True)
class Governance:
    limiter: CallerLimiter
    cache: ResponseCache
    coalescer: Coalescer
    costs: CostModel
    budgets: Budgets
    quota: QuotaTracker
    default_ttl: int | None = None

    @property
    def gates(self) -> bool:
        """Whether a request must pass limits or budgets before it is sent (False: nothing to pay)."""
        return self.limiter.active or self.budgets.active

    async def admit(
        self, project_id: str, key_id: str | None, estimate: Callable[[], int] | None = None
    ) -> Reservation | None:
        await self.budgets.check(project_id, key_id)
        if not self.limiter.active:
            return None
        return await self.limiter.admit(key_id, project_id, estimate() if estimate else 0)

    async def account(self, project_id: str, key_id: str | None, target: Target, usage: Usage) -> float | None:
        """After a success: its cost in USD (None when unpriced), charged to budgets and provider tokens."""
        if usage.total_tokens:
            await self.limiter.charge_provider_tokens(_subject(target), target.instance.config, usage.total_tokens)
        cost = self.costs.cost(target, usage)
        if cost:
            await self.budgets.add(project_id, key_id, cost)
        return cost

    # -- the dispatcher's hooks (routing.dispatch.DispatchHooks) ------------------------------
    async def before_attempt(self, target: Target) -> None:
        config = target.instance.config
        if config is not None and config.rate_limit is not None:
            await self.limiter.admit_provider(_subject(target), target.instance.name, config.rate_limit, 0)

    def after_attempt(self, target: Target, status: int, headers: Mapping[str, str]) -> None:
        self.quota.observe(target.key, status, headers)

    def steer(self, route: Route) -> Route:
        return self.quota.steer(route)


def _subject(target: Target) -> str:
    """A provider credential: the instance's pool and the credential reference the target uses."""
    return f"{target.instance.pool}#{target.credential_ref or target.instance.credential or '-'}"


def build_governance(settings: Settings, config: GatewayConfig, redis: Redis | None) -> Governance:
    store: LimitStore
    cache: ResponseCache
    if redis is not None:
        # Only with Redis: the import costs memory that a single process does not need.
        from api_connector.governance.ratelimit_redis import RedisLimitStore

        store = RedisLimitStore(
            redis,
            settings.redis_key_prefix,
            on_error=settings.rate_limit_on_redis_error,
            local_share=settings.rate_limit_local_share,
        )
        cache = RedisCache(redis, settings.redis_key_prefix, config.cache.max_entry_bytes)
    else:
        store = MemoryLimitStore()
        cache = MemoryCache(config.cache.max_entries, config.cache.max_entry_bytes)
    return Governance(
        limiter=CallerLimiter(config.limits, store),
        cache=cache,
        coalescer=Coalescer(),
        costs=CostModel(config.prices),
        budgets=Budgets(config.budgets, redis, settings.redis_key_prefix),
        quota=QuotaTracker(),
        default_ttl=config.cache.default_ttl,
    )
