"""The one place a Redis client is made: shared state (breakers, later rate limits and cache) uses it.

``create_redis(settings)`` answers None when no Redis is configured, and every caller then keeps its
state in this process's memory. The pool is bounded by ``REDIS__MAX_CONNECTION``; keys are namespaced
with ``REDIS_KEY_PREFIX`` so that several deployments (or test runs) can share one server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from api_connector.settings import Settings

# Seconds to connect and to wait for an answer: shared state is on the request path's side, and a
# Redis that does not answer must cost a request little (callers fall back to local state).
_SOCKET_TIMEOUT = 2.0
_POOL_WAIT = 2.0


def create_redis(settings: Settings) -> Redis | None:
    url = settings.resolved_redis_url()
    if url is None:
        return None
    # Imported here: the client library costs a process about 6 MiB, for nothing when Redis is not used.
    from redis.asyncio import Redis
    from redis.asyncio.connection import BlockingConnectionPool

    # Blocking pool: when every connection is busy a caller waits (bounded) instead of failing at once.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.redis.max_connection,
        timeout=_POOL_WAIT,
        socket_timeout=_SOCKET_TIMEOUT,
        socket_connect_timeout=_SOCKET_TIMEOUT,
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)


def key(settings: Settings, *parts: str) -> str:
    """A namespaced key: ``<prefix><part>:<part>...``."""
    return settings.redis_key_prefix + ":".join(parts)
