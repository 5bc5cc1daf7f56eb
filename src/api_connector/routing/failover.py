"""Retry, failover, circuit breakers and the retry budget, wrapped around one attempt.

``Resilience.run`` takes a route and a callable that makes one attempt on one target; it knows nothing
of what the attempt sends. For each target in the strategy's order: an open breaker, or a target at
its in-flight limit, is passed over without a call; otherwise the attempt is made, timed, and its
outcome goes to the breaker and the latency tracker. What a failure leads to (retry here, move on, or
stop because the caller is at fault) is ``classify.decide``'s answer, never decided here. Retries wait
with full jitter or the provider's Retry-After, within the request's deadline and the retry budget.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from api_connector.config import ResilienceConfig
from api_connector.errors import (
    AllTargetsFailed,
    CapabilityUnsupported,
    CircuitOpen,
    ConnectorError,
    CredentialError,
    RateLimited,
    RequestError,
    UpstreamError,
)
from api_connector.routing.breaker import BreakerStore, DisabledBreakers, MemoryBreakerStore, Permit
from api_connector.routing.catalog import Route, Target
from api_connector.routing.classify import classify_exception, decide
from api_connector.routing.latency import TargetLoad, TargetStats
from api_connector.routing.retry import RetryBudget, backoff_delay
from api_connector.routing.strategies import Needs, order_targets
from api_connector.routing.streams import ChatStream

if TYPE_CHECKING:
    from api_connector.routing.dispatch import CallContext

T = TypeVar("T")


class AttemptTracing(Protocol):
    """A request's live trace while tracing is on (``observability.tracing.RequestTrace``): a span
    around each attempt, and that span's id sent upstream in the attempt's headers."""

    def attempt(self, target: Target, once: Callable[[Target], Awaitable[T]]) -> Awaitable[T]: ...

    def inject(self, headers: dict[str, str]) -> None: ...


class _Next:
    """Sentinel: this target is done with, try the next one."""


_NEXT = _Next()
_MESSAGE_LIMIT = 500


class Resilience:
    def __init__(
        self,
        config: ResilienceConfig,
        breakers: BreakerStore,
        stats: TargetStats | None = None,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self.breakers = breakers
        self.stats = stats or TargetStats()
        self.budget = RetryBudget(config.retry)
        self._rng = rng
        self._clock = clock
        self._slow = config.breaker.slow_call_seconds
        # Instance pool keys the health monitor judges unhealthy (a live set it keeps current): tried last.
        self.unhealthy: Collection[str] = frozenset()

    @classmethod
    def in_memory(cls, config: ResilienceConfig, rng: Callable[[], float] = random.random) -> Resilience:
        breakers: BreakerStore = MemoryBreakerStore(config.breaker) if config.breaker.enabled else DisabledBreakers()
        return cls(config, breakers, rng=rng)

    async def run(self, ctx: CallContext, route: Route, needs: Needs, once: Callable[[Target], Awaitable[T]]) -> T:
        targets = order_targets(route, needs, self.stats, self._rng, self.unhealthy)
        self.budget.on_request()
        passed_over: list[ConnectorError] = []
        for index, target in enumerate(targets):
            permit = self.breakers.fast(target.key)  # answers from memory for a closed breaker
            if permit is None:
                permit = await self.breakers.acquire(target.key)
            if not permit.allowed or (
                target.max_in_flight is not None and self.stats.in_flight(target.key) >= target.max_in_flight
            ):
                self._pass_over(ctx, target, permit)
                continue
            result = await self._on_target(ctx, target, permit, once, index + 1 < len(targets), passed_over)
            if not isinstance(result, _Next):
                ctx.served_by = target
                return result
            if ctx.budget_exhausted:
                break
        raise self._final(ctx, route, targets, needs, passed_over)

    def _pass_over(self, ctx: CallContext, target: Target, permit: Permit) -> None:
        """Note why a target gets no call: its circuit is open, or it is at its in-flight limit."""
        name = target.instance.name
        if not permit.allowed:
            error: UpstreamError = CircuitOpen(
                f"provider {name!r} is failing; its circuit is open", provider=name, retry_after=permit.retry_after
            )
        else:
            self.breakers.release(target.key, permit)
            error = RateLimited(f"provider {name!r} is at its limit of {target.max_in_flight} calls in flight")
            error.provider = name
        self._note(ctx, target, error, self._clock(), 0.0, skipped=True)

    async def _on_target(
        self,
        ctx: CallContext,
        target: Target,
        permit: Permit,
        once: Callable[[Target], Awaitable[T]],
        more: bool,
        passed_over: list[ConnectorError],
    ) -> T | _Next:
        attempt = 0
        while True:
            if ctx.attempts_made and not self.budget.try_spend():
                ctx.budget_exhausted = True
                self.breakers.release(target.key, permit)
                return _NEXT
            ctx.attempts_made += 1
            started = self._clock()
            load = self.stats.begin(target.key)
            tracing = ctx.tracing
            try:
                # Tracing off (the default) costs this one test; on, the attempt runs inside its span.
                result = await (once(target) if tracing is None else tracing.attempt(target, once))
            except UpstreamError as error:
                failure = error
            except (TimeoutError, OSError) as exc:
                failure = classify_exception(exc, provider=target.instance.name)
            except (RequestError, CredentialError) as unsuitable:
                # This target cannot take the request (untranslatable, credential missing): pass it over.
                self._abandon(target, permit, load)
                unsuitable.provider = unsuitable.provider or target.instance.name
                passed_over.append(unsuitable)
                return _NEXT
            except BaseException:
                self._abandon(target, permit, load)
                raise
            else:
                self._succeeded(target, permit, load, self._clock() - started, result)
                if ctx.attempts_made > 1:
                    self.budget.refund()  # the extra attempts served the request: not amplification
                return result
            if not await self._after_failure(ctx, target, permit, load, failure, started, attempt, more):
                return _NEXT
            attempt += 1

    async def _after_failure(
        self,
        ctx: CallContext,
        target: Target,
        permit: Permit,
        load: TargetLoad,
        failure: UpstreamError,
        started: float,
        attempt: int,
        more: bool,
    ) -> bool:
        """Book the failure; True to try the same target again (after waiting), False to move on."""
        elapsed = self._clock() - started
        failure.provider = failure.provider or target.instance.name
        decision = decide(failure)
        self.stats.end(load, elapsed, ok=False)
        self.breakers.record(target.key, permit, not decision.breaker_failure, elapsed >= self._slow)
        self._note(ctx, target, failure, started, elapsed)
        if not decision.failover:
            raise failure  # the caller's own mistake: every target would refuse it alike
        if not decision.retry or permit.probe or attempt >= ctx.retries:
            return False
        delay = backoff_delay(self.config.retry, attempt, failure, self._rng, ctx.remaining(), more)
        if delay is None:
            return False
        await asyncio.sleep(delay)
        # The breaker may have tripped meanwhile (other requests saw the same trouble).
        again = self.breakers.fast(target.key)
        return again is not None and again.allowed

    def _succeeded(self, target: Target, permit: Permit, load: TargetLoad, elapsed: float, result: Any) -> None:
        self.breakers.record(target.key, permit, True, elapsed >= self._slow)
        if isinstance(result, ChatStream):
            # Latency is the time to the first payload; the call stays in flight until the stream ends.
            self.stats.end(load, elapsed)
            load.in_flight += 1
            result.on_close = lambda: self.stats.end(load, None)
        else:
            self.stats.end(load, elapsed)

    def _abandon(self, target: Target, permit: Permit, load: TargetLoad) -> None:
        self.stats.end(load, None)
        self.breakers.release(target.key, permit)

    def _note(
        self,
        ctx: CallContext,
        target: Target,
        error: UpstreamError,
        started: float,
        elapsed: float,
        skipped: bool = False,
    ) -> None:
        ctx.attempts.append(error)
        ctx.trace.append(
            {
                "provider": target.instance.name,
                "pool": target.instance.pool,  # which instance: same-named ones of two projects differ
                "model": target.model,
                "code": error.code,
                "status": error.upstream_status,
                "message": error.message[:_MESSAGE_LIMIT],
                "retryable": error.retryable,
                "skipped": skipped,
                "at_ms": round((started - ctx.started) * 1000, 3),
                "elapsed_ms": round(elapsed * 1000, 3),
            }
        )

    @staticmethod
    def _final(
        ctx: CallContext, route: Route, targets: list[Target], needs: Needs, passed_over: list[ConnectorError]
    ) -> ConnectorError:
        if not ctx.attempts:
            if passed_over:
                return passed_over[0]
            if route.capable(needs.capability):
                return CapabilityUnsupported(
                    f"no target of {route.name!r} can take this request (it needs {needs.describe()})", param="model"
                )
            return CapabilityUnsupported(
                f"no target of {route.name!r} supports {needs.capability.value}", param="model"
            )
        if len(targets) == 1:
            return ctx.attempts[-1]  # one target: its own failure says more than "all targets failed"
        return AllTargetsFailed(list(ctx.attempts))
