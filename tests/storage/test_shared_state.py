"""Shared values, counters, claims and deadlines on the real Redis, under the deployment's prefix; and
an unreachable Redis as the one storage error."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from api_connector.errors import SharedStateUnavailable
from api_connector.storage.redis import SharedRedis
from api_connector.storage.shared_state import SharedState


async def test_values_counters_and_claims(redis_namespace: tuple[Redis, str]) -> None:
    client, prefix = redis_namespace
    state = SharedState(SharedRedis(client, prefix))
    assert await state.get("v") is None
    await state.put("v", b"one", 60)
    assert await state.get("v") == b"one" and await client.ttl(prefix + "v") > 0
    assert [await state.count("c", 60) for _ in range(3)] == [1, 2, 3]
    assert [await state.incr("version") for _ in range(2)] == [1, 2]
    assert await client.ttl(prefix + "version") == -1  # a version never expires
    assert await state.claim("lock", 60, b"inc_1") and not await state.claim("lock", 60, b"inc_2")
    assert await client.get(prefix + "lock") == b"inc_1"  # the first claim's value stays
    assert await state.release("lock") and not await state.release("lock")  # only one ends it
    assert await state.claim_ms("short", 200) and not await state.claim_ms("short", 200)
    assert 0 < await client.pttl(prefix + "short") <= 200


async def test_deadlines_keep_the_latest_and_drop_the_past(redis_namespace: tuple[Redis, str]) -> None:
    client, prefix = redis_namespace
    state = SharedState(SharedRedis(client, prefix))
    now = time.time()
    await state.put_deadline("quota", "a", now + 60)
    await state.put_deadline("quota", "a", now + 30)  # earlier than the one there: kept at +60
    await state.put_deadline("quota", "b", now - 1)  # already past
    await state.incr("version")
    version, live = await state.version_and_deadlines("version", "quota", now)
    assert version == b"1"
    assert live == {"a": pytest.approx(now + 60, abs=0.01)}
    assert await client.zcard(prefix + "quota") == 1  # the past one was dropped
    assert 0 < await client.ttl(prefix + "quota") <= 62  # the set lives as long as its latest deadline
    assert await state.version_and_deadlines("nothing", "none", now) == (None, {})


async def test_an_unreachable_redis_is_a_storage_error() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    state = SharedState(SharedRedis(dead, "t:"))
    try:
        for call in (
            state.get("k"),
            state.count("k", 1),
            state.claim_ms("k", 10),
            state.release("k"),
            state.put_deadline("q", "m", time.time() + 5),
            state.version_and_deadlines("v", "q", time.time()),
        ):
            with pytest.raises(SharedStateUnavailable):
                await call
    finally:
        await dead.aclose()
