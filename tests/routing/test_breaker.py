"""Circuit breakers: the same rules in memory and in Redis (the Lua scripts), on a controlled clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from tests.redis_space import redis_space

from api_connector.config import BreakerConfig
from api_connector.routing.breaker import BreakerStore, MemoryBreakerStore, Permit
from api_connector.routing.breaker_store import RedisBreakerStore
from api_connector.storage.breaker_scripts import BreakerScripts
from api_connector.storage.redis import SharedRedis

CONFIG = BreakerConfig(
    window=10,
    min_calls=4,
    failure_rate=0.5,
    slow_call_rate=0.5,
    slow_call_seconds=1,
    wait=2,
    max_wait=8,
    half_open_probes=2,
)
KEY = "*:p/m"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """One store, its clock, and helpers that settle Redis round-trips before asserting."""

    def __init__(self, store: BreakerStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def permit(self, key: str = KEY) -> Permit:
        fast = self.store.fast(key)
        return fast if fast is not None else await self.store.acquire(key)

    async def call(self, ok: bool, slow: bool = False, key: str = KEY) -> Permit:
        permit = await self.permit(key)
        if permit.allowed:
            self.store.record(key, permit, ok, slow)
            await self.settle()
        return permit

    async def settle(self) -> None:
        if isinstance(self.store, RedisBreakerStore):
            await self.store.flush()

    async def state(self, key: str = KEY) -> str:
        return str((await self.store.states()).get(key, {"state": "closed"})["state"])


@pytest.fixture(params=["memory", "redis"])
async def breakers(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    clock = Clock()
    if request.param == "memory":
        yield Harness(MemoryBreakerStore(CONFIG, clock), clock)
        return
    async with redis_space() as (client, prefix):
        yield Harness(RedisBreakerStore(CONFIG, BreakerScripts(SharedRedis(client, prefix)), clock=clock), clock)


async def test_trips_on_failure_rate_after_minimum_calls(breakers: Harness) -> None:
    for ok in (False, False, False):
        assert (await breakers.call(ok)).allowed
    assert await breakers.state() == "closed"  # three calls: below min_calls, however bad
    await breakers.call(True)  # 3 failures of 4 calls
    refused = await breakers.permit()
    assert not refused.allowed and 1.9 < refused.retry_after <= 2.0
    assert await breakers.state() == "open"


async def test_failures_below_the_rate_do_not_trip(breakers: Harness) -> None:
    for ok in (True, False, True, True, False, True, True, True):
        await breakers.call(ok)
    assert (await breakers.permit()).allowed


async def test_slow_calls_trip_it_too(breakers: Harness) -> None:
    for _ in range(4):
        await breakers.call(True, slow=True)
    assert not (await breakers.permit()).allowed


async def test_old_outcomes_leave_the_window(breakers: Harness) -> None:
    for _ in range(3):
        await breakers.call(False)
    breakers.clock.now += 11  # past the window: those failures no longer count
    await breakers.call(False)
    await breakers.call(True)
    await breakers.call(True)
    assert (await breakers.permit()).allowed


async def test_half_open_probes_close_it_again(breakers: Harness) -> None:
    for _ in range(4):
        await breakers.call(False)
    breakers.clock.now += 2.1
    first, second, third = (await breakers.permit()), (await breakers.permit()), (await breakers.permit())
    assert first.probe and second.probe and not third.allowed  # two probes, no more
    breakers.store.record(KEY, first, True, False)
    breakers.store.record(KEY, second, True, False)
    await breakers.settle()
    assert await breakers.state() == "closed"
    assert (await breakers.permit()) == Permit(True)


async def test_a_failed_probe_trips_again_for_longer(breakers: Harness) -> None:
    for _ in range(4):
        await breakers.call(False)
    waits = []
    for _ in range(4):
        breakers.clock.now += 8.1
        probe = await breakers.permit()
        assert probe.probe
        breakers.store.record(KEY, probe, False, False)
        await breakers.settle()
        waits.append(round((await breakers.permit()).retry_after))
    assert waits == [4, 8, 8, 8]  # 2 s, then doubled on each repeated trip, capped at max_wait


async def test_lost_probes_are_given_up_after_their_lease(breakers: Harness) -> None:
    for _ in range(4):
        await breakers.call(False)
    breakers.clock.now += 2.1
    assert (await breakers.permit()).probe and (await breakers.permit()).probe
    assert not (await breakers.permit()).allowed
    breakers.clock.now += 31  # the probes' process died: nobody reports them
    assert (await breakers.permit()).probe


async def test_released_probe_slot_is_given_to_the_next_call(breakers: Harness) -> None:
    for _ in range(4):
        await breakers.call(False)
    breakers.clock.now += 2.1
    first, second = await breakers.permit(), await breakers.permit()
    breakers.store.release(KEY, second)  # the target was passed over after all
    await breakers.settle()
    assert (await breakers.permit()).probe and first.probe


async def test_targets_have_breakers_of_their_own(breakers: Harness) -> None:
    for _ in range(4):
        await breakers.call(False, key="*:a/m")
    assert not (await breakers.permit("*:a/m")).allowed
    assert (await breakers.permit("*:b/m")).allowed


async def test_two_redis_stores_share_one_breaker(redis_namespace: tuple[Redis, str]) -> None:
    client, prefix = redis_namespace
    clock = Clock()
    one = Harness(RedisBreakerStore(CONFIG, BreakerScripts(SharedRedis(client, prefix)), clock=clock), clock)
    other = RedisBreakerStore(CONFIG, BreakerScripts(SharedRedis(client, prefix)), clock=clock)
    for ok in (False, True, False, False):
        await one.call(ok)
    # The other process never called this target: its first look asks Redis (one round-trip).
    assert other.fast(KEY) is None
    assert not (await other.acquire(KEY)).allowed
    assert other.fast(KEY) is not None  # and then answers from its copy


async def test_unreachable_redis_fails_open_without_a_round_trip_per_call() -> None:
    from tests.routing.network import free_port

    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    store = RedisBreakerStore(CONFIG, BreakerScripts(SharedRedis(client, "apc-test-down:")))
    try:
        assert store.fast(KEY) is None
        assert (await store.acquire(KEY)).allowed  # Redis is down: calls pass
        assert store.fast(KEY) == Permit(True)  # and the next ones do not try Redis again
        store.record(KEY, Permit(True), False, False)
        await store.flush()  # counts are dropped with a warning, nothing raises
    finally:
        await client.aclose()
