"""A provider credential's limits around each attempt (``Governance.before_attempt`` and ``close_scope``),
on this process's store and on Redis: a retry gets the previous attempt's slot and tokens back first,
reserved tokens are corrected to the real usage, limits changed at run time apply to the next attempt,
and the memory store's shortcuts (``take``, ``release``) keep ``check`` and ``give_back``'s arithmetic."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from api_connector.config import ProviderConfig, RateLimitConfig, parse_config
from api_connector.errors import ProviderAtLimit
from api_connector.governance.limiter import Reservation
from api_connector.governance.ratelimit import MemoryLimitStore, rules_for
from api_connector.governance.settings_model import LimitSpec
from api_connector.governance.wiring import Governance, Scope, build_governance
from api_connector.routing.catalog import ProviderInstance, Target
from api_connector.settings import Settings
from api_connector.storage.redis import SharedRedis
from tests.redis_space import redis_space

STORES = ["memory", "redis"]


@contextlib.asynccontextmanager
async def governance(store: str, limits: dict[str, Any] | None = None) -> AsyncIterator[Governance]:
    settings = Settings(rate_limit_on_redis_error="closed", rate_limit_local_share=1)
    config = parse_config({"limits": limits or {}})
    if store == "memory":
        yield build_governance(settings, config, None)
        return
    async with redis_space() as (client, prefix):
        gov = build_governance(settings, config, SharedRedis(client, prefix))
        try:
            yield gov
        finally:
            await gov.close()


async def settled(gov: Governance) -> None:
    """Redis settlements are queued for a few milliseconds: send what is queued and wait for it (as the
    store's close does). The memory store settles at once."""
    await gov.limiter.store.close()


def target(rate_limit: dict[str, Any], *, credential: str = "env:KEY_A", model: str = "m") -> Target:
    config = ProviderConfig(type="sandbox", credential=credential, rate_limit=RateLimitConfig(**rate_limit))
    return Target(ProviderInstance.from_config("limited", config), model)


async def attempt(gov: Governance, to: Target, scope: Scope | None, remaining: float | None = None) -> None:
    admitting = gov.before_attempt(to, scope, remaining)
    if admitting is not None:
        await admitting


@pytest.mark.parametrize("store", STORES)
async def test_a_retry_on_the_same_credential_gets_the_previous_slot_and_tokens_back(store: str) -> None:
    to = target({"concurrent_requests": 1, "tokens_per_minute": 1000})
    async with governance(store) as gov:
        call = Scope(lambda: 600)
        await attempt(gov, to, call)
        first = call.attempt
        assert first is not None and first.estimated_tokens == 600
        other = Scope(lambda: 100)
        with pytest.raises(ProviderAtLimit):  # the one slot is held by the first call's attempt
            await attempt(gov, to, other)
        # The retry asks the same credential: without the first attempt's slot and 600 tokens given back
        # it would be refused (one slot; 1200 tokens of 1000).
        await attempt(gov, to, call)
        assert call.attempt is not None and call.attempt is not first
        gov.close_scope(call)
        await settled(gov)
        await attempt(gov, to, other)
        assert other.attempt is not None


@pytest.mark.parametrize("store", STORES)
async def test_reserved_tokens_are_corrected_to_the_real_usage(store: str) -> None:
    to = target({"tokens_per_minute": 1000})  # a minute's worth at once; about 17 a second come back
    async with governance(store) as gov:
        less = Scope(lambda: 600)
        await attempt(gov, to, less)
        less.actual_tokens = 100  # 500 of the 600 reserved come back
        gov.close_scope(less)
        await settled(gov)
        more = Scope(lambda: 800)
        await attempt(gov, to, more)  # 100 + 800 fit; 600 + 800 would not
        more.actual_tokens = 850  # 50 more than reserved are charged
        gov.close_scope(more)
        await settled(gov)
        with pytest.raises(ProviderAtLimit):  # 950 + 100 do not fit; 900 + 100 would
            await attempt(gov, to, Scope(lambda: 100))


async def test_an_admitted_attempt_on_the_memory_store_needs_no_await_and_a_wait_does() -> None:
    to = target({"requests_per_minute": 600, "max_wait": 5})  # with no burst: one every 0.1 s
    async with governance("memory", {"burst": 0}) as gov:
        first = Scope(lambda: 0)
        assert gov.before_attempt(to, first, None) is None
        assert first.attempt is not None
        second = Scope(lambda: 0)
        with pytest.raises(ProviderAtLimit) as refused:  # the deadline leaves no time to wait
            await attempt(gov, to, second, remaining=0.01)
        assert refused.value.retry_after is not None and 0.05 < refused.value.retry_after <= 0.1
        waiting = gov.before_attempt(to, second, None)
        assert waiting is not None and second.attempt is None
        await waiting  # the next slot, a tenth of a second later
        assert second.attempt is not None


async def test_outside_a_scope_only_rates_are_taken() -> None:
    to = target({"requests_per_minute": 600, "concurrent_requests": 1})
    async with governance("memory") as gov:
        gov.provider_limits = False
        for _ in range(3):  # no slot taken: nobody would give it back
            await attempt(gov, to, None)
        assert gov.provider_limits  # every later call runs in a scope
        await attempt(gov, to, Scope(lambda: 0))
        with pytest.raises(ProviderAtLimit):
            await attempt(gov, to, Scope(lambda: 0))
        assert gov.before_attempt(target({"concurrent_requests": 1}), None, None) is None


async def test_limits_changed_at_run_time_apply_to_the_next_attempt() -> None:
    async with governance("memory") as gov:
        to = target({"requests_per_minute": 1})
        await attempt(gov, to, Scope(lambda: 0))
        with pytest.raises(ProviderAtLimit):
            await attempt(gov, to, Scope(lambda: 0))
        # The provider's limits replaced in its configuration: the same target sees them at once.
        config = to.instance.config
        assert config is not None
        config.rate_limit = RateLimitConfig(requests_per_minute=1000)
        await attempt(gov, to, Scope(lambda: 0))
        # The instance rebuilt with another credential (its limits the same object): a minute of its own.
        config.rate_limit = RateLimitConfig(requests_per_minute=1)
        with pytest.raises(ProviderAtLimit):
            await attempt(gov, to, Scope(lambda: 0))
        rebuilt = Target(dataclasses.replace(to.instance, credential="env:KEY_B"), to.model)
        await attempt(gov, rebuilt, Scope(lambda: 0))
        # The provider built anew from its configuration with the first credential: that minute is spent.
        with pytest.raises(ProviderAtLimit):
            await attempt(gov, target({"requests_per_minute": 1}), Scope(lambda: 0))


async def test_targets_with_one_key_but_two_credentials_keep_their_own_limits() -> None:
    # "m#x" on the instance's credential and "m" on the route's credential "x" share a target key.
    by_model = target({"requests_per_minute": 1}, model="m#x")
    by_ref = Target(by_model.instance, "m", credential_ref="x")
    assert by_model.key == by_ref.key
    async with governance("memory") as gov:
        await attempt(gov, by_model, Scope(lambda: 0))
        with pytest.raises(ProviderAtLimit):
            await attempt(gov, by_model, Scope(lambda: 0))
        await attempt(gov, by_ref, Scope(lambda: 0))


def test_a_providers_rate_limit_cannot_change_in_place() -> None:
    # The limiter keeps what it worked out from a RateLimitConfig for as long as it is the same object.
    limits = RateLimitConfig(requests_per_minute=5)
    with pytest.raises(ValidationError):
        limits.requests_per_minute = 50


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_take_and_release_keep_the_arithmetic_of_check_and_give_back() -> None:
    """The same admissions and settlements through both ways, in a seeded random order: the same
    answers and the same state, to the last bit."""
    clock = Clock()
    short, long = MemoryLimitStore(clock), MemoryLimitStore(clock)
    spec = LimitSpec(requests_per_minute=120, requests_per_hour=3600, tokens_per_minute=20_000, concurrent=3)
    rules = rules_for("provider:p#c", spec, 0.05)
    rng = random.Random(7)
    held: list[Reservation] = []
    answers = {"admitted": 0, "refused": 0}
    for _ in range(3000):
        clock.now += rng.choice([0.0, 0.05, 0.5, 2.0, 40.0])
        if held and rng.random() < 0.5:
            reservation = held.pop(rng.randrange(len(held)))
            used = rng.choice([None, 0, reservation.estimated_tokens, rng.randrange(0, 3000)])
            short.release(reservation.rules, reservation.estimated_tokens, used)
            long.give_back(*_columns(reservation, used))
        else:
            tokens = rng.randrange(0, 2000)
            wait = short.take(rules, tokens)
            verdict = long.check(rules, [float(tokens) if r.tokens else 1.0 for r in rules])
            assert wait == (0.0 if verdict.allowed else verdict.retry_after_ms)
            if wait:
                answers["refused"] += 1
            else:
                answers["admitted"] += 1
                held.append(Reservation(rules, tokens, {}))
        assert short._tat == long._tat and short._count == long._count
    assert min(answers.values()) > 300, answers  # both answers were exercised


def _columns(reservation: Reservation, used: int | None) -> tuple[list[Any], list[float]]:
    items = reservation.settlement(used)
    return [i[0] for i in items], [i[1] for i in items]
