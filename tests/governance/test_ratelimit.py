"""The limiter itself: GCRA bounds, all-or-nothing checks, token settlement, concurrency, Redis script
equal to the memory one, and the documented behaviour when Redis is unreachable."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from api_connector.errors import LimiterUnavailable, LimitExceeded
from api_connector.governance.limiter import CallerLimiter, settle
from api_connector.governance.ratelimit import BudgetGate, MemoryLimitStore, Rule, rules_for
from api_connector.governance.ratelimit_redis import RedisLimitStore
from api_connector.governance.settings_model import LimitsConfig, LimitSpec
from api_connector.storage.limit_scripts import LimitScripts
from api_connector.storage.redis import SharedRedis
from api_connector.storage.redis_scripts import Call
from tests.redis_space import redis_space


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_minute_of_overload_admits_at_most_limit_plus_burst() -> None:
    clock = Clock()
    store = MemoryLimitStore(clock)
    rules = rules_for("key:k", LimitSpec(requests_per_minute=600), 0.01)
    accepted = 0
    for _ in range(6000):  # 100 requests a second for a minute
        if (await store.acquire(rules, [1.0])).allowed:
            accepted += 1
        clock.now += 0.01
    assert 600 <= accepted <= 606


async def test_a_refusal_consumes_no_other_limit() -> None:
    store = MemoryLimitStore(Clock())
    roomy = Rule.rate("a", 100, 60, 0.5)
    tight = Rule.rate("b", 1, 60, 0.0)
    assert (await store.acquire([roomy, tight], [1, 1])).allowed
    for _ in range(5):
        assert not (await store.acquire([roomy, tight], [1, 1])).allowed
    assert (await store.acquire([roomy], [1])).remaining[0] == 48  # only two taken of 50


async def test_tokens_are_reserved_then_settled_with_real_usage() -> None:
    clock = Clock()
    limiter = CallerLimiter(LimitsConfig(keys={"k": LimitSpec(tokens_per_minute=1000)}), MemoryLimitStore(clock))
    reservation = await limiter.admit("k", "p", 900)
    assert reservation is not None
    with pytest.raises(LimitExceeded) as refused:
        await limiter.admit("k", "p", 200)
    assert refused.value.headers["x-ratelimit-remaining-tokens"] == "0"
    assert refused.value.retry_after and refused.value.retry_after > 0
    await settle(limiter.store, reservation.settlement(100))  # far less used than reserved: the rest comes back
    assert await limiter.admit("k", "p", 800) is not None


async def test_concurrency_is_given_back_when_a_request_ends() -> None:
    limiter = CallerLimiter(LimitsConfig(projects={"p": LimitSpec(concurrent=2)}), MemoryLimitStore(Clock()))
    first = await limiter.admit(None, "p", 0)
    second = await limiter.admit("k", "p", 0)
    assert first and second
    with pytest.raises(LimitExceeded):
        await limiter.admit("k", "p", 0)
    await settle(limiter.store, first.settlement(None))
    assert await limiter.admit("k", "p", 0) is not None


async def test_no_limits_configured_costs_nothing() -> None:
    limiter = CallerLimiter(LimitsConfig(), MemoryLimitStore())
    assert not limiter.active
    assert await limiter.admit("k", "p", 10) is None


async def test_redis_script_agrees_with_memory() -> None:
    async with redis_space() as (client, prefix):
        store = RedisLimitStore(LimitScripts(SharedRedis(client, prefix)))
        rules = rules_for("key:r", LimitSpec(requests_per_minute=600, concurrent=5), 0.01)
        verdicts = [await store.acquire(rules, [1.0, 1.0], f"h{i}") for i in range(5)]
        assert all(v.allowed for v in verdicts)
        assert [v.remaining for v in verdicts][-1] == [1, 0]  # one more of the burst of 6; no concurrency
        refused = await store.acquire(rules, [1.0, 1.0], "h5")
        assert not refused.allowed and refused.retry_after_ms > 0
        # Refused by concurrency: the rate's state did not move either (all or nothing).
        await store.settle([rules[1]], [-1], ["h0"])
        assert (await store.acquire(rules, [1.0, 1.0], "h6")).allowed
        assert not (await store.acquire(rules[:1], [1.0])).allowed
        for holder in ("h1", "h2", "h3", "h4", "h6", "h6"):  # a second release of one slot is harmless
            await store.settle([rules[1]], [-1], [holder])
        assert await client.zcard(prefix + "rl:key:r:conc") == 0


async def test_queued_settlements_reach_redis_together_and_on_close() -> None:
    """Settlements nobody waits for share one script call a few milliseconds later; close sends the rest."""
    async with redis_space() as (client, prefix):
        store = RedisLimitStore(LimitScripts(SharedRedis(client, prefix)))
        rules = rules_for("key:q", LimitSpec(concurrent=3), 0.01)
        for holder in ("a", "b", "c"):
            assert (await store.acquire(rules, [1.0], holder)).allowed
        assert not (await store.acquire(rules, [1.0], "d")).allowed
        calls = 0
        run = store._scripts._settle.run

        async def counted(batch: list[Call]) -> list[object]:
            nonlocal calls
            calls += len(batch)
            return await run(batch)

        store._scripts._settle.run = counted  # type: ignore[method-assign]
        store.settle_soon(rules, [-1], ["a"])
        store.settle_soon(rules, [-1], ["b"])
        assert await client.zcard(prefix + "rl:key:q:conc") == 3  # not sent yet
        await asyncio.sleep(0.05)
        assert calls == 1 and await client.zcard(prefix + "rl:key:q:conc") == 1
        store.settle_soon(rules, [-1], ["c"])
        await store.close()  # flushes what is queued
        assert calls == 2 and await client.zcard(prefix + "rl:key:q:conc") == 0


async def test_a_batch_naming_one_key_many_times_settles_like_memory_in_order() -> None:
    """Token settlements of many requests on one rate, queued together: the key travels once, and the
    arrival time moves as the memory store's does when the same give-backs and charges come one by one."""
    async with redis_space() as (client, prefix):
        store = RedisLimitStore(LimitScripts(SharedRedis(client, prefix)))
        memory = MemoryLimitStore()
        rules = rules_for("key:t", LimitSpec(tokens_per_minute=60_000), 0.01)
        for target in (store, memory):
            assert (await target.acquire(rules, [5_000.0])).allowed
            assert (await target.acquire(rules, [5_000.0])).allowed
        deltas = [-4_000.0, 1_500.0, -2_000.0, 0.0]  # real usage below, above, below, equal to the estimates
        keys_sent: list[int] = []
        run = store._scripts._settle.run

        async def counted(batch: list[Call]) -> list[object]:
            keys_sent.extend(len(keys) for keys, _ in batch)
            return await run(batch)

        store._scripts._settle.run = counted  # type: ignore[method-assign]
        for delta in deltas:
            store.settle_soon(rules, [delta])
            memory.give_back(rules, [delta])
        await store.close()
        assert keys_sent == [1]
        stored = float(await client.get(prefix + "rl:" + rules[0].key) or 0)
        tat = memory._tat[rules[0].key]
        # Both arrival times lie the same distance ahead of their own clocks (to a few ms of test time).
        redis_now = (await client.time())[0] * 1000 + (await client.time())[1] / 1000
        assert abs((stored - redis_now) - (tat - memory.clock() * 1000)) < 50


async def test_a_dead_replicas_slots_expire_and_live_ones_are_renewed() -> None:
    async with redis_space() as (client, prefix):
        rule = Rule("provider:p#cred:conc", "c", 2, tolerance_ms=300.0)  # a 0.3 s lease
        alive, dead = (RedisLimitStore(LimitScripts(SharedRedis(client, prefix))) for _ in range(2))
        assert (await alive.acquire([rule], [1.0], "alive")).allowed
        assert (await dead.acquire([rule], [1.0], "dead")).allowed
        assert not (await alive.acquire([rule], [1.0], "third")).allowed
        # "dead" never renews nor releases; "alive" renews (its lease is the default 30 s from now on).
        await alive.renew()
        await asyncio.sleep(0.4)
        assert (await alive.acquire([rule], [1.0], "third")).allowed  # the dead holder's slot came free
        assert not (await alive.acquire([rule], [1.0], "fourth")).allowed  # the renewed one did not


async def test_budget_gates_refuse_in_the_same_script_and_nothing_moves() -> None:
    async with redis_space() as (client, prefix):
        store = RedisLimitStore(LimitScripts(SharedRedis(client, prefix)))
        rules = rules_for("key:b", LimitSpec(requests_per_minute=60), 0.05)  # three at once
        gate = BudgetGate("project:p:2024-01", 1.0, 0.0, "the project's budget")
        assert (await store.acquire(rules, [1.0], "", [gate])).allowed
        await client.set(prefix + "budget:project:p:2024-01", "1.5")
        refused = await store.acquire(rules, [1.0], "", [gate])
        assert not refused.allowed and refused.budget == 0
        # The refusal by budget consumed no request: two more fit, then none.
        assert [(await store.acquire(rules, [1.0])).allowed for _ in range(3)] == [True, True, False]
        memory = MemoryLimitStore(Clock())
        assert (await memory.acquire((), (), "", [BudgetGate("k", 1.0, 0.99, "b")])).allowed
        assert (await memory.acquire((), (), "", [BudgetGate("k", 1.0, 1.0, "b")])).budget == 0


async def test_redis_unreachable_fails_closed_when_so_configured() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    rules = rules_for("key:x", LimitSpec(requests_per_minute=60), 0.0)
    closed = RedisLimitStore(LimitScripts(SharedRedis(dead, "t:")), on_error="closed")
    with pytest.raises(LimiterUnavailable):
        await closed.acquire(rules, [1.0])
    await dead.aclose()


async def test_redis_unreachable_with_local_limits_divides_by_the_replica_share() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    rules = rules_for("key:x", LimitSpec(requests_per_minute=300), 0.0)
    local = RedisLimitStore(LimitScripts(SharedRedis(dead, "t:")), on_error="local", local_share=3)
    allowed = [(await local.acquire(rules, [1.0])).allowed for _ in range(5)]
    # 300/minute over 3 replicas is 100/minute here: one at once, the next 0.6 s later.
    assert allowed == [True, False, False, False, False]
    await dead.aclose()


async def test_a_settlement_redis_never_took_is_given_back_to_the_local_limits() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    rules = rules_for("key:x", LimitSpec(requests_per_minute=1), 0.0)
    store = RedisLimitStore(LimitScripts(SharedRedis(dead, "t:")), on_error="local")
    assert (await store.acquire(rules, [1.0])).allowed  # Redis down: limited here, the one request taken
    assert not (await store.acquire(rules, [1.0])).allowed
    store.settle_soon(rules, [-1.0])  # that request gives its unit back, which Redis cannot take
    await store.close()  # sends what is queued: it fails, and the unit comes back here instead
    assert (await store.acquire(rules, [1.0])).allowed
    await dead.aclose()
