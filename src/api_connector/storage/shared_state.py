"""Small values and counters that replicas share through Redis, behind one interface.

Callers name their keys (``authfail:...``, ``models:...``); this module adds the deployment's
``REDIS_KEY_PREFIX`` and speaks Redis. Every call may raise when Redis cannot be reached: sharing is a
saving for its callers, who then keep to what this replica knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis


class SharedState:
    def __init__(self, redis: Redis, prefix: str = "apc:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def count(self, key: str, ttl: int) -> int:
        """Add one to ``key``'s count (kept ``ttl`` seconds from its last change); the count after it."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(self._prefix + key)
        pipe.expire(self._prefix + key, ttl)
        count, _ = await pipe.execute()
        return int(count)

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(self._prefix + key)
        return value.encode() if isinstance(value, str) else value  # a client made to decode answers str

    async def put(self, key: str, value: bytes, ttl: int) -> None:
        await self._redis.set(self._prefix + key, value, ex=ttl)

    async def claim(self, key: str, ttl: int) -> bool:
        """True for the one replica that sets ``key`` first (held ``ttl`` seconds): a lock without release."""
        return bool(await self._redis.set(self._prefix + key, b"1", nx=True, ex=ttl))
