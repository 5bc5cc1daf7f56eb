"""Small values, counters and locks that replicas share through Redis, behind one interface.

Callers name their keys (``authfail:...``, ``models:...``, ``health:lock:...``); this module adds the
deployment's ``REDIS_KEY_PREFIX`` and speaks Redis. Every call may raise ``SharedStateUnavailable`` when
Redis cannot answer: sharing is a saving for its callers, who then keep to what this replica knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from api_connector.storage.redis import client_errors, unavailable

if TYPE_CHECKING:
    from api_connector.storage.redis import SharedRedis


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value  # a client made to decode answers str


class SharedState:
    def __init__(self, shared: SharedRedis) -> None:
        self._redis = shared.client
        self._prefix = shared.prefix

    async def count(self, key: str, ttl: int) -> int:
        """Add one to ``key``'s count (kept ``ttl`` seconds from its last change); the count after it."""
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.incr(self._prefix + key)
            pipe.expire(self._prefix + key, ttl)
            count, _ = await pipe.execute()
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return int(count)

    async def incr(self, key: str) -> int:
        """Add one to a counter kept without expiry (a version); the value after it."""
        try:
            return int(await self._redis.incr(self._prefix + key))
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def get(self, key: str) -> bytes | None:
        try:
            return _bytes(await self._redis.get(self._prefix + key))
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def put(self, key: str, value: bytes, ttl: int) -> None:
        try:
            await self._redis.set(self._prefix + key, value, ex=ttl)
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def claim(self, key: str, ttl: int, value: bytes | str = b"1") -> bool:
        """True for the one replica that sets ``key`` first (held ``ttl`` seconds, unless released)."""
        try:
            return bool(await self._redis.set(self._prefix + key, value, nx=True, ex=ttl))
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def claim_ms(self, key: str, ttl_ms: int) -> bool:
        """``claim`` for ``ttl_ms`` milliseconds: a lock that lasts one short interval."""
        try:
            return bool(await self._redis.set(self._prefix + key, b"1", nx=True, px=ttl_ms))
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def release(self, key: str) -> bool:
        """Delete ``key``; True when it existed (the caller is the one that ended the claim)."""
        try:
            return bool(await self._redis.delete(self._prefix + key))
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def put_deadline(self, key: str, member: str, until: float) -> None:
        """Record ``member`` in the deadline set ``key`` until ``until`` (epoch seconds); a later deadline
        already there stays. The set lives as long as its latest deadline."""
        name = self._prefix + key
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(name, {member: until}, gt=True)
                pipe.expireat(name, int(until) + 1, gt=True)
                pipe.expireat(name, int(until) + 1, nx=True)
                await pipe.execute()
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def version_and_deadlines(
        self, version_key: str, deadlines_key: str, now: float
    ) -> tuple[bytes | None, dict[str, float]]:
        """A counter's value and the deadline set's members still ahead of ``now`` (those past it are
        dropped), in one round trip."""
        deadlines = self._prefix + deadlines_key
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(self._prefix + version_key)
                pipe.zrangebyscore(deadlines, now, "+inf", withscores=True)
                pipe.zremrangebyscore(deadlines, "-inf", now)
                version, live, _ = await pipe.execute()
        except client_errors() as exc:
            raise unavailable(exc) from exc
        members = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in live}
        return _bytes(version), members
