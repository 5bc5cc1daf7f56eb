"""Retry, failover, circuit breakers and the retry budget, wrapped around one attempt.

``Resilience.run`` takes a route and a callable that makes one attempt on one target; it knows nothing
of what the attempt sends. For each target in the strategy's order: an open breaker, a target at its
in-flight limit, or one whose provider credential is at its configured limit (``admit``), is passed
over without a call and without counting against it (the gateway's own refusals say nothing about the
provider); otherwise the attempt is made, timed, and its outcome goes to the breaker and the latency
tracker. What a failure leads to (retry here, move on, or stop) is ``classify.decide``'s answer, never
decided here. Retries wait with full jitter or the provider's Retry-After, within the call's deadline
and the retry budget. Everything that happened is written to the call's attempt log.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Generic, TypeVar

from api_connector.config import ResilienceConfig
from api_connector.core.call import Call
from api_connector.errors import (
    AllTargetsFailed,
    CapabilityUnsupported,
    CircuitOpen,
    ConnectorError,
    CredentialError,
    ProviderAtLimit,
    RateLimited,
    RequestError,
    UpstreamError,
)
from api_connector.routing.attempts import Attempt, AttemptLog
from api_connector.routing.breaker import BreakerStore, DisabledBreakers, MemoryBreakerStore, Permit
from api_connector.routing.catalog import Route, Target
from api_connector.routing.classify import classify_exception, decide
from api_connector.routing.latency import TargetLoad, TargetStats
from api_connector.routing.retry import RetryBudget, backoff_delay
from api_connector.routing.strategies import Needs, order_targets
from api_connector.routing.streams import AnswerStream

T = TypeVar("T")
# Before each attempt: may this target be sent to now? Raises ProviderAtLimit when its credential is
# at its configured limit; answers None when it decided at once, else what to await for the answer.
Admit = Callable[[Target], Awaitable[None] | None]


class _Next:
    """Sentinel: this target is done with, try the next one."""


_NEXT = _Next()


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

    async def run(
        self,
        call: Call,
        log: AttemptLog,
        route: Route,
        needs: Needs,
        once: Callable[[Target], Awaitable[T]],
        *,
        admit: Admit | None = None,
        resendable: bool = True,
    ) -> T:
        targets = order_targets(route, needs, self.stats, self._rng, self.unhealthy)
        self.budget.on_request()
        passed_over: list[ConnectorError] = []
        attempt = _Attempts(call, log, once, admit, resendable)
        for index, target in enumerate(targets):
            permit = self.breakers.fast(target.key)  # answers from memory for a closed breaker
            if permit is None:
                permit = await self.breakers.acquire(target.key)
            if not permit.allowed or (
                target.max_in_flight is not None and self.stats.in_flight(target.key) >= target.max_in_flight
            ):
                self._pass_over(call, log, target, permit)
                continue
            result = await self._on_target(attempt, target, permit, index + 1 < len(targets), passed_over)
            if not isinstance(result, _Next):
                log.served_by = target
                return result
            if log.budget_exhausted:
                break
        raise self._final(log, route, targets, needs, passed_over)

    def _pass_over(self, call: Call, log: AttemptLog, target: Target, permit: Permit) -> None:
        """Note why a target gets no call: its circuit is open, or it is at its in-flight limit."""
        name = target.instance.name
        if not permit.allowed:
            error: UpstreamError = CircuitOpen(
                f"provider {name!r} is failing; its circuit is open",
                provider=name,
                retry_after=permit.retry_after,
                sent=False,
            )
        else:
            self.breakers.release(target.key, permit)
            error = RateLimited(
                f"provider {name!r} is at its limit of {target.max_in_flight} calls in flight", sent=False
            )
            error.provider = name
        self._note(call, log, target, error, self._clock(), 0.0, skipped=True)

    async def _on_target(
        self,
        attempt: _Attempts[T],
        target: Target,
        permit: Permit,
        more: bool,
        passed_over: list[ConnectorError],
    ) -> T | _Next:
        call, log = attempt.call, attempt.log
        tries = 0
        while True:
            if attempt.admit is not None:
                try:
                    admitting = attempt.admit(target)
                    if admitting is not None:
                        await admitting
                except ProviderAtLimit as refusal:
                    # The gateway's own refusal: nothing was sent and the provider is not at fault.
                    self.breakers.release(target.key, permit)
                    self._note(call, log, target, refusal, self._clock(), 0.0, skipped=True)
                    return _NEXT
            if log.made and not self.budget.try_spend():
                log.budget_exhausted = True
                self.breakers.release(target.key, permit)
                return _NEXT
            log.made += 1
            started = self._clock()
            load = self.stats.begin(target.key)
            tracing = call.tracing
            try:
                # Tracing off (the default) costs this one test; on, the attempt runs inside its span.
                once = attempt.once
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
                if log.made > 1:
                    self.budget.refund()  # the extra attempts served the request: not amplification
                return result
            if not await self._after_failure(attempt, target, permit, load, failure, started, tries, more):
                return _NEXT
            tries += 1

    async def _after_failure(
        self,
        attempt: _Attempts[T],
        target: Target,
        permit: Permit,
        load: TargetLoad,
        failure: UpstreamError,
        started: float,
        tries: int,
        more: bool,
    ) -> bool:
        """Book the failure; True to try the same target again (after waiting), False to move on."""
        call = attempt.call
        elapsed = self._clock() - started
        failure.provider = failure.provider or target.instance.name
        decision = decide(failure, attempt.resendable)
        self.stats.end(load, elapsed, ok=False)
        self.breakers.record(target.key, permit, not decision.breaker_failure, elapsed >= self._slow)
        self._note(call, attempt.log, target, failure, started, elapsed)
        if not decision.failover:
            raise failure  # the caller's own mistake, or unsafe to send again: stop here
        if not decision.retry or permit.probe or tries >= call.retries:
            return False
        delay = backoff_delay(self.config.retry, tries, failure, self._rng, call.remaining(), more)
        if delay is None:
            return False
        await asyncio.sleep(delay)
        # The breaker may have tripped meanwhile (other requests saw the same trouble).
        again = self.breakers.fast(target.key)
        return again is not None and again.allowed

    def _succeeded(self, target: Target, permit: Permit, load: TargetLoad, elapsed: float, result: Any) -> None:
        self.breakers.record(target.key, permit, True, elapsed >= self._slow)
        if isinstance(result, AnswerStream):
            # Latency is the time to the first piece; the call stays in flight until the stream ends.
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
        call: Call,
        log: AttemptLog,
        target: Target,
        error: UpstreamError,
        started: float,
        elapsed: float,
        skipped: bool = False,
    ) -> None:
        log.failures.append(Attempt(target, error, started - call.started, elapsed, skipped))

    @staticmethod
    def _final(
        log: AttemptLog, route: Route, targets: list[Target], needs: Needs, passed_over: list[ConnectorError]
    ) -> ConnectorError:
        errors = log.errors
        if not errors:
            if passed_over:
                return passed_over[0]
            if route.capable(needs.capability):
                return CapabilityUnsupported(
                    f"no target of {route.name!r} can take this request (it needs {needs.describe()})", param="model"
                )
            return CapabilityUnsupported(
                f"no target of {route.name!r} supports {needs.capability.value}", param="model"
            )
        if all(isinstance(error, ProviderAtLimit) for error in errors):
            # Every target refused by the gateway's own limits: 429, to come back when the soonest
            # one frees a slot.
            soonest = min(errors, key=lambda error: error.retry_after or 0.0)
            if len(errors) == 1:
                return soonest
            refusal = ProviderAtLimit(
                f"every target of {route.name!r} is at its configured rate limit", retry_after=soonest.retry_after
            )
            refusal.details = AllTargetsFailed(errors).details
            return refusal
        if len(targets) == 1:
            return errors[-1]  # one target: its own failure says more than "all targets failed"
        return AllTargetsFailed(errors)


class _Attempts(Generic[T]):
    """One call's way through the targets: what every attempt on any of them shares."""

    __slots__ = ("admit", "call", "log", "once", "resendable")

    def __init__(
        self, call: Call, log: AttemptLog, once: Callable[[Target], Awaitable[T]], admit: Admit | None, resendable: bool
    ) -> None:
        self.call, self.log, self.once, self.admit, self.resendable = call, log, once, admit, resendable
