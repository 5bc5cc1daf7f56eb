"""Both cache backends behave alike: scoped by project, expiry, clear by pattern, stats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from api_connector.governance.cache import MemoryCache, RedisCache, ResponseCache, request_key
from api_connector.storage.cache_scripts import CacheEntries
from api_connector.storage.redis import SharedRedis
from tests.redis_space import redis_space


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[ResponseCache]:
    if request.param == "memory":
        yield MemoryCache(max_entries=100)
        return
    async with redis_space() as (client, prefix):
        yield RedisCache(CacheEntries(SharedRedis(client, prefix)))


async def test_backend_contract(cache: ResponseCache) -> None:
    a = request_key("proj_a", None, {"model": "m", "messages": [1]})
    a_same = request_key("proj_a", None, {"messages": [1], "model": "m"})  # canonical: key order ignored
    b = request_key("proj_b", None, {"model": "m", "messages": [1]})
    assert a == a_same and a != b
    await cache.put(a, b"answer", 60)
    assert await cache.get(a) == b"answer"
    assert await cache.get(b) is None  # another project never sees it
    await cache.put(request_key("proj_a", "faq:1", None), b"x" * 10, 60)
    await cache.put(request_key("proj_a", "tmp", None), b"y", 0.05)
    await asyncio.sleep(0.1)
    assert await cache.get(request_key("proj_a", "tmp", None)) is None  # expired
    stats = (await cache.stats("proj_a")).as_dict()
    assert stats["hits"] == 1 and stats["misses"] == 1 and stats["entries"] == 2 and stats["bytes"] == 16
    assert await cache.clear("proj_b", "*") == 0
    assert await cache.clear("proj_a", "faq:*") == 1
    assert (await cache.stats(None)).entries == 1


async def test_many_keys_at_once(cache: ResponseCache) -> None:
    # Per-item caching (embeddings) reads and writes one project's keys in bulk: past one Redis chunk,
    # within the memory fixture's 100 entries.
    count = 1200 if isinstance(cache, RedisCache) else 150
    keys = [request_key("proj_m", None, ["item", i]) for i in range(count)]
    await cache.put_many([(key, f"v{i}".encode()) for i, key in enumerate(keys) if i % 3], 60)
    found = await cache.get_many(keys)
    assert found == [None if i % 3 == 0 else f"v{i}".encode() for i in range(count)]
    stats = await cache.stats("proj_m")
    assert (stats.hits, stats.misses, stats.entries) == (count * 2 // 3, count // 3, count * 2 // 3)
    assert await cache.get_many([]) == []
    await cache.put_many([(keys[0], b"x")], 0)  # no TTL: not kept
    assert await cache.get(keys[0]) is None
    assert await cache.get_many([request_key("proj_other", None, ["item", 1])]) == [None]  # another project
