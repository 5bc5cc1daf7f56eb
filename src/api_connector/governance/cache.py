"""Response cache: exact match on a canonical request hash or the caller's ``cache_key``, per project.

Entries are keyed ``<project>:<key>``, so one project can never read another's answers. Only complete
successes are stored (callers never hand an error or a broken stream to ``put``). Memory (LRU with
expiry, bounded) by default; Redis with ``REDIS_URL`` (the entries and their scripts in
``storage.cache_scripts``). Looked up only when a request asks for caching.
Capabilities cached per item (embeddings: one entry per input) read and write many keys in one call.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from api_connector.core.usage import Usage

if TYPE_CHECKING:
    from api_connector.storage.cache_scripts import CacheEntries


def request_key(project_id: str, cache_key: str | None, canonical: Any) -> str:
    """``<project>:k:<cache_key>`` or ``<project>:h:<sha256 of the canonical request>``."""
    if cache_key:
        return f"{project_id}:k:{cache_key}"
    digest = hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{project_id}:h:{digest}"


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """One cached answer and who first gave it (so a hit is recorded under that provider and model).

    ``kind`` is ``W`` (a whole answer, as its capability dumps it) or ``P`` (a stream's pieces, a JSON
    list of base64 strings); entries written by earlier versions may be ``J`` or ``R`` (whole) and
    ``S`` (a stream's payloads as a JSON list of strings)."""

    kind: bytes
    body: bytes
    provider: str | None = None
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    # Until when (wall clock) it answers as fresh; past it, an entry kept longer only stands in for a
    # failure (stale-if-error). None: fresh for as long as it is kept (entries of earlier versions).
    fresh_until: float | None = None

    def encode(self) -> bytes:
        u = self.usage
        meta: dict[str, object] = {"p": self.provider, "m": self.model, "u": u.as_list()}
        if self.fresh_until is not None:
            meta["f"] = self.fresh_until
        return b"V" + orjson.dumps(meta) + b"\n" + self.kind + self.body

    @classmethod
    def decode(cls, raw: bytes) -> CachedAnswer:
        if raw[:1] == b"V":
            meta_raw, _, rest = raw[1:].partition(b"\n")
            meta = orjson.loads(meta_raw)
            usage = Usage.from_list(meta["u"])
            return cls(rest[:1], rest[1:], meta["p"], meta["m"], usage, meta.get("f"))
        if raw[:1] == b"{":  # a generic response written before entries said who gave them
            return cls(b"R", raw)
        return cls(raw[:1], raw[1:])

    def fresh(self, now: float) -> bool:
        return self.fresh_until is None or now < self.fresh_until

    @property
    def whole(self) -> bool:
        return self.kind in (b"W", b"J", b"R")

    @classmethod
    def of_pieces(
        cls, pieces: list[bytes], provider: str | None, model: str, usage: Usage, fresh_until: float | None = None
    ) -> CachedAnswer:
        body = orjson.dumps([base64.b64encode(piece).decode() for piece in pieces])
        return cls(b"P", body, provider, model, usage, fresh_until)

    def pieces(self) -> list[bytes]:
        listed = orjson.loads(self.body)
        if self.kind == b"S":  # an earlier version's stream entry: payloads as text
            return [str(item).encode() for item in listed]
        return [base64.b64decode(item) for item in listed]


@dataclass(slots=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        total = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / total, 4) if total else 0.0,
            "entries": self.entries,
            "bytes": self.bytes,
        }


class ResponseCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl: float) -> None: ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's entry (None when absent), in order; every key counts as a hit or a miss.
        The keys of one call belong to one project (the items of one request)."""
        ...

    async def put_many(self, entries: Sequence[tuple[str, bytes]], ttl: float) -> None: ...

    async def clear(self, project_id: str | None, pattern: str) -> int: ...

    async def stats(self, project_id: str | None) -> CacheStats: ...


class MemoryCache:
    def __init__(self, max_entries: int = 10_000, max_entry_bytes: int = 1_048_576) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max = max_entries
        self._max_bytes = max_entry_bytes
        self._hits: dict[str, int] = {}
        self._misses: dict[str, int] = {}

    async def get(self, key: str) -> bytes | None:
        project = key.split(":", 1)[0]
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            if found is not None:
                del self._entries[key]
            self._misses[project] = self._misses.get(project, 0) + 1
            return None
        self._entries.move_to_end(key)
        self._hits[project] = self._hits.get(project, 0) + 1
        return found[1]

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self._max_bytes or ttl <= 0:
            return
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get(key) for key in keys]

    async def put_many(self, entries: Sequence[tuple[str, bytes]], ttl: float) -> None:
        for key, value in entries:
            await self.put(key, value, ttl)

    async def clear(self, project_id: str | None, pattern: str) -> int:
        doomed = [k for k in self._entries if _matches(k, project_id, pattern)]
        for k in doomed:
            del self._entries[k]
        return len(doomed)

    async def stats(self, project_id: str | None) -> CacheStats:
        now = time.monotonic()
        live = [v for k, (exp, v) in self._entries.items() if exp >= now and _matches(k, project_id, "*")]
        hits = sum(n for p, n in self._hits.items() if project_id in (None, p))
        misses = sum(n for p, n in self._misses.items() if project_id in (None, p))
        return CacheStats(hits, misses, len(live), sum(len(v) for v in live))


def _matches(key: str, project_id: str | None, pattern: str) -> bool:
    project, _, rest = key.partition(":")
    if project_id is not None and project != project_id:
        return False
    # The pattern is matched against the caller's cache_key (or the hash), not the internal prefix.
    return fnmatch.fnmatchcase(rest.partition(":")[2], pattern)


class RedisCache:
    """Shared by every replica (``storage.cache_scripts``); hit and miss counts live in one hash per project."""

    def __init__(self, entries: CacheEntries, max_entry_bytes: int = 1_048_576) -> None:
        self._entries = entries
        self._max_bytes = max_entry_bytes

    async def get(self, key: str) -> bytes | None:
        # One round trip: the lookup and its hit/miss count together.
        return await self._entries.lookup(key, key.split(":", 1)[0])

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self._max_bytes or ttl <= 0:
            return
        await self._entries.store(key, value, max(1, int(ttl * 1000)))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return await self._entries.lookup_many(keys[0].split(":", 1)[0], keys)

    async def put_many(self, entries: Sequence[tuple[str, bytes]], ttl: float) -> None:
        kept = [(key, value) for key, value in entries if len(value) <= self._max_bytes]
        if ttl <= 0 or not kept:
            return
        await self._entries.store_many(kept, max(1, int(ttl * 1000)))

    async def clear(self, project_id: str | None, pattern: str) -> int:
        # The pattern is matched against the caller's cache_key (or the hash), not the key's kind.
        return await self._entries.delete_matching(f"{project_id or '*'}:?:{pattern}")

    async def stats(self, project_id: str | None) -> CacheStats:
        hits, misses = await self._entries.counts(project_id or "*")
        entries, size = await self._entries.sizes(f"{project_id or '*'}:*")
        return CacheStats(hits, misses, entries, size)
