"""The one place a Redis client is made, and the one way its failures leave storage.

``connect_shared(settings)`` answers None when no Redis is configured, and every caller then keeps its
state in this process's memory. Otherwise it answers a ``SharedRedis``: the process's one client (a
pool bounded by ``REDIS__MAX_CONNECTION``) and the deployment's ``REDIS_KEY_PREFIX``, so that several
deployments (or test runs) can share one server. The shared stores are made from it: ``shared_state``
(values, counters, locks), ``limit_scripts``, ``breaker_scripts``, ``cache_scripts`` and
``budget_scripts``; nothing outside ``storage`` holds the client itself.

A Redis failure (no connection, a timeout, an error reply) leaves a store as ``SharedStateUnavailable``
(``errors.py``), so no caller needs the client library's exceptions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from api_connector.errors import SharedStateUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from api_connector.settings import Settings

# Seconds to connect and to wait for an answer: shared state is on the request path's side, and a
# Redis that does not answer must cost a request little (callers fall back to local state).
_SOCKET_TIMEOUT = 2.0
_POOL_WAIT = 2.0


class SharedRedis:
    """The shared Redis of one process: its client and the deployment's key prefix."""

    def __init__(self, client: Redis, prefix: str = "apc:") -> None:
        self.client = client
        self.prefix = prefix

    async def close(self) -> None:
        await self.client.aclose()


def connect_shared(settings: Settings) -> SharedRedis | None:
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
    return SharedRedis(Redis(connection_pool=pool), settings.redis_key_prefix)


def client_errors() -> tuple[type[Exception], ...]:
    """The client's failures, for ``except client_errors() as exc: raise unavailable(exc) from exc``.

    An ``except`` clause's expression is evaluated only when something was raised: a process without
    Redis never imports the client library, and the common path (no failure) costs nothing."""
    from redis.exceptions import RedisError

    return RedisError, OSError


def unavailable(exc: BaseException) -> SharedStateUnavailable:
    """The storage error that stands for the client's ``exc``."""
    return SharedStateUnavailable(f"shared state unreachable ({type(exc).__name__})")
