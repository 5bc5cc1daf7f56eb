"""Request-path authentication: gateway key header -> ``Principal``.

The hot path must not cost a database query per request, so lookups are cached by key hash for
``cache_ttl`` seconds. Unknown keys are cached too, briefly and in a separately bounded map, so a
flood of random keys neither reaches the database once per request nor grows memory without bound.
Concurrent lookups of the same uncached key share one query. Revocation invalidates this process's
cache at once; other replicas notice within ``cache_ttl``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from api_connector.auth.keys import MAX_KEY_LEN, Scope, hash_key
from api_connector.errors import AuthenticationRequired, InvalidAPIKey, PermissionDenied
from api_connector.storage.records import GatewayKey

log = logging.getLogger(__name__)

# One message for unknown and revoked keys: the answer must not tell an attacker which it was.
_INVALID = "invalid API key"
_MISSING = "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'"


class KeyLookup(Protocol):
    """What the authenticator needs from a key store (``storage.keys.KeyStore`` provides it)."""

    async def get_by_hash(self, key_hash: str) -> GatewayKey | None: ...

    async def touch_last_used(self, key_ids: Sequence[str]) -> None: ...

    async def revoke(self, key_id: str, project_id: str | None = None) -> GatewayKey: ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key, its project (None for a global key) and what it may do."""

    key_id: str
    project_id: str | None
    scopes: frozenset[str]

    @property
    def is_global_admin(self) -> bool:
        return self.project_id is None and Scope.ADMIN in self.scopes

    def has(self, scope: Scope | str) -> bool:
        return str(scope) in self.scopes

    def require(self, scope: Scope | str) -> None:
        if str(scope) not in self.scopes:
            raise PermissionDenied(f"this API key lacks the {str(scope)!r} scope")

    def can_access_project(self, project_id: str) -> bool:
        return self.project_id == project_id or self.is_global_admin

    def require_project(self, project_id: str) -> None:
        if not self.can_access_project(project_id):
            raise PermissionDenied("this API key cannot access that project")


@dataclass(slots=True)
class _Entry:
    key: GatewayKey
    expires_at: float


class Authenticator:
    def __init__(
        self,
        key_store: KeyLookup,
        cache_ttl: float,
        *,
        negative_ttl: float | None = None,
        max_cached_keys: int = 10_000,
        max_negative_entries: int = 4_096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = key_store
        self._ttl = max(0.0, cache_ttl)
        # Brief: long enough to absorb a flood, short enough that nothing user-visible depends on it.
        self._negative_ttl = min(self._ttl, 1.0) if negative_ttl is None else max(0.0, negative_ttl)
        self._max_positive = max(1, max_cached_keys)
        self._max_negative = max(1, max_negative_entries)
        self._clock = clock
        self._positive: OrderedDict[str, _Entry] = OrderedDict()
        self._negative: OrderedDict[str, float] = OrderedDict()  # hash -> expires_at
        self._inflight: dict[str, asyncio.Task[GatewayKey | None]] = {}
        # Bumped by every invalidation: a lookup that started before it must not refill the cache
        # with what it read before the revocation committed.
        self._generation = 0
        self._seen: set[str] = set()
        self.store_lookups = 0  # database lookups made (a metric, and what tests assert on)

    async def authenticate(self, authorization_header: str | None, x_api_key_header: str | None) -> Principal:
        token = _extract_token(authorization_header, x_api_key_header)
        if len(token) > MAX_KEY_LEN:
            raise InvalidAPIKey(_INVALID)
        key = await self._lookup(hash_key(token))
        if key is None or key.revoked_at is not None:
            raise InvalidAPIKey(_INVALID)
        self._seen.add(key.id)
        return Principal(key_id=key.id, project_id=key.project_id, scopes=key.scopes)

    async def revoke(self, key_id: str, project_id: str | None = None) -> GatewayKey:
        """Revoke through the store and drop the key from this process's cache immediately."""
        key = await self._store.revoke(key_id, project_id)
        self.invalidate_key(key.id)
        return key

    def invalidate(self, key_hash: str) -> None:
        self._generation += 1
        self._positive.pop(key_hash, None)
        self._negative.pop(key_hash, None)
        self._inflight.pop(key_hash, None)

    def invalidate_key(self, key_id: str) -> None:
        """Invalidate by key id (callers of the admin API know the id, not the hash)."""
        self._generation += 1
        for key_hash in [h for h, entry in self._positive.items() if entry.key.id == key_id]:
            del self._positive[key_hash]
        # The hash of an in-flight lookup is not known to belong to this id; drop them all.
        self._inflight.clear()

    def invalidate_all(self) -> None:
        self._generation += 1
        self._positive.clear()
        self._negative.clear()
        self._inflight.clear()

    async def flush_last_used(self) -> int:
        """Write ``last_used_at`` for keys seen since the last flush; returns how many were flushed.

        Meant for a periodic task: a failure is logged and the ids are kept for the next flush rather
        than raised into the scheduler.
        """
        if not self._seen:
            return 0
        ids, self._seen = self._seen, set()
        try:
            await self._store.touch_last_used(sorted(ids))
        except Exception as exc:
            self._seen |= ids
            log.warning("last_used_at flush failed for %d keys: %s", len(ids), type(exc).__name__)
            return 0
        return len(ids)

    @property
    def cache_sizes(self) -> tuple[int, int]:
        """(valid keys cached, unknown hashes cached)."""
        return len(self._positive), len(self._negative)

    async def _lookup(self, key_hash: str) -> GatewayKey | None:
        now = self._clock()
        entry = self._positive.get(key_hash)
        if entry is not None:
            if entry.expires_at > now:
                return entry.key
            del self._positive[key_hash]
        negative_until = self._negative.get(key_hash)
        if negative_until is not None:
            if negative_until > now:
                return None
            del self._negative[key_hash]
        task = self._inflight.get(key_hash)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key_hash, self._generation))
            self._inflight[key_hash] = task
            task.add_done_callback(lambda done: self._forget_inflight(key_hash, done))
        # shield: one caller giving up (client disconnect) must not cancel the lookup for the others.
        return await asyncio.shield(task)

    async def _fetch(self, key_hash: str, generation: int) -> GatewayKey | None:
        self.store_lookups += 1
        key = await self._store.get_by_hash(key_hash)
        if generation == self._generation:
            self._remember(key_hash, key)
        return key

    def _remember(self, key_hash: str, key: GatewayKey | None) -> None:
        now = self._clock()
        if key is not None and key.revoked_at is None:
            if self._ttl > 0:
                self._positive[key_hash] = _Entry(key, now + self._ttl)
                self._positive.move_to_end(key_hash)
                while len(self._positive) > self._max_positive:
                    self._positive.popitem(last=False)
        elif self._negative_ttl > 0:
            self._negative[key_hash] = now + self._negative_ttl
            self._negative.move_to_end(key_hash)
            # Oldest first out: under a flood of random keys the map stays at its bound.
            while len(self._negative) > self._max_negative:
                self._negative.popitem(last=False)

    def _forget_inflight(self, key_hash: str, done: asyncio.Task[GatewayKey | None]) -> None:
        if self._inflight.get(key_hash) is done:
            del self._inflight[key_hash]
        if not done.cancelled():
            done.exception()  # mark retrieved: every waiter may have gone away


def _extract_token(authorization: str | None, x_api_key: str | None) -> str:
    """The key from ``Authorization: Bearer <key>``, else from ``x-api-key`` (Anthropic-style clients)."""
    if authorization and authorization.strip():
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            if credentials.strip():
                return credentials.strip()
        elif not (x_api_key and x_api_key.strip()):
            # A Basic or malformed Authorization header is a wrong credential, not a missing one.
            raise InvalidAPIKey(_INVALID)
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    raise AuthenticationRequired(_MISSING)
