"""A Redis namespace of the test's own, on the real server (routing, governance and multi-process tests)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

REDIS_URL = os.environ.get("APC_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


async def _clean(client: Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)


@contextlib.asynccontextmanager
async def redis_space() -> AsyncIterator[tuple[Redis, str]]:
    """A live Redis client and a key prefix no other test (or run) uses; the keys are deleted after."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    prefix = f"apc-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield client, prefix
    finally:
        await _clean(client, prefix)
        await client.aclose()


@pytest.fixture
async def redis_namespace() -> AsyncIterator[tuple[Redis, str]]:
    async with redis_space() as space:
        yield space


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """Only the prefix, for tests that hand Redis to service processes they start."""
    async with redis_space() as (_, prefix):
        yield prefix
