"""Cached answers on the shared Redis: each entry at ``<prefix>cache:<key>``, the hit and miss counts of
each project in one hash, ``<prefix>cachestats:<project>``.

``governance.cache`` decides what a key is (``<project>:<k|h>:<...>``), what may be kept and for how
long; this module holds the lookup scripts, which count a hit or a miss in the same round trip as the
read. Failures come back as ``SharedStateUnavailable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from api_connector.storage.redis import client_errors, unavailable

if TYPE_CHECKING:
    from api_connector.storage.redis import SharedRedis

_LOOKUP = """
local v = redis.call('GET', KEYS[1])
if v then redis.call('HINCRBY', KEYS[2], 'hits', 1) return v end
redis.call('HINCRBY', KEYS[2], 'misses', 1)
return false
"""

# KEYS[1] is the project's stats hash, the rest the entries: one round trip per chunk of keys.
_LOOKUP_MANY = """
local found = redis.call('MGET', unpack(KEYS, 2))
local hits = 0
for _, v in ipairs(found) do if v then hits = hits + 1 end end
if hits > 0 then redis.call('HINCRBY', KEYS[1], 'hits', hits) end
if hits < #found then redis.call('HINCRBY', KEYS[1], 'misses', #found - hits) end
return found
"""
# Keys per script call: well below Lua's limit on unpacked arguments.
_CHUNK = 500
_SCAN = 500  # keys per SCAN step and per DEL


class CacheEntries:
    def __init__(self, shared: SharedRedis) -> None:
        self._redis = shared.client
        self._entries = shared.prefix + "cache:"
        self._stats = shared.prefix + "cachestats:"
        self._lookup: Any = shared.client.register_script(_LOOKUP)
        self._lookup_many: Any = shared.client.register_script(_LOOKUP_MANY)

    async def lookup(self, key: str, project: str) -> bytes | None:
        """``key``'s entry, counted as a hit or a miss of ``project`` (one round trip)."""
        try:
            found = await self._lookup(keys=[self._entries + key, self._stats + project])
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return bytes(found) if found else None

    async def lookup_many(self, project: str, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's entry (None when absent), in order; each counted as a hit or a miss of ``project``."""
        stats = self._stats + project
        found: list[bytes | None] = []
        for start in range(0, len(keys), _CHUNK):
            chunk = [self._entries + key for key in keys[start : start + _CHUNK]]
            try:
                values = await self._lookup_many(keys=[stats, *chunk])
            except client_errors() as exc:
                raise unavailable(exc) from exc
            # MGET's nil comes back from Lua as false (None from the client): both mean absent.
            found += [bytes(v) if v else None for v in values]
        return found

    async def store(self, key: str, value: bytes, ttl_ms: int) -> None:
        try:
            await self._redis.set(self._entries + key, value, px=ttl_ms)
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def store_many(self, entries: Sequence[tuple[str, bytes]], ttl_ms: int) -> None:
        """Every entry, kept ``ttl_ms`` milliseconds, in one round trip."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in entries:
                    pipe.set(self._entries + key, value, px=ttl_ms)
                await pipe.execute()
        except client_errors() as exc:
            raise unavailable(exc) from exc

    async def delete_matching(self, pattern: str) -> int:
        """Delete the entries whose key matches the glob ``pattern``; how many there were."""
        try:
            doomed = [k async for k in self._redis.scan_iter(match=self._entries + pattern, count=_SCAN)]
            for start in range(0, len(doomed), _SCAN):
                await self._redis.delete(*doomed[start : start + _SCAN])
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return len(doomed)

    async def counts(self, project_pattern: str) -> tuple[int, int]:
        """Hits and misses of the projects matching the glob ``project_pattern``."""
        hits = misses = 0
        try:
            async for k in self._redis.scan_iter(match=self._stats + project_pattern, count=_SCAN):
                counts = await self._redis.hgetall(k)
                hits += int(counts.get(b"hits", 0))
                misses += int(counts.get(b"misses", 0))
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return hits, misses

    async def sizes(self, pattern: str) -> tuple[int, int]:
        """How many entries match the glob ``pattern``, and their bytes."""
        entries = size = 0
        try:
            async for k in self._redis.scan_iter(match=self._entries + pattern, count=_SCAN):
                entries += 1
                size += int(await self._redis.strlen(k))
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return entries, size
