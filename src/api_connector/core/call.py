"""The facts of one call, fixed when it arrives: who asks, for what, under which deadline and options.

Every entry point (an HTTP route, the embedded Connector, a dead-letter replay) builds one ``Call``
and hands it to the pipeline with the capability's typed request. Nothing on the way changes it;
what happens to the call (attempts, the target that served it) is kept beside it, in the run's
attempt log.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, TypeVar

from api_connector.core.capabilities import Capability

T = TypeVar("T")
NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class CacheAsk:
    """What the caller asked of the response cache (the pipeline adds the operator's defaults)."""

    ttl: int | None = None  # seconds to keep the answer; 0: do not cache this one
    key: str | None = None  # the caller's own key instead of the request's hash
    stale_if_error: int | None = None  # seconds past expiry an answer may stand in for a failure


NO_CACHE_ASK = CacheAsk()


class AttemptTracing(Protocol):
    """A request's live trace while tracing is on: a span around each attempt, and that span's id
    sent upstream in the attempt's headers."""

    def attempt(self, target: Any, once: Callable[[Any], Awaitable[T]]) -> Awaitable[T]: ...

    def inject(self, headers: dict[str, str]) -> None: ...


class Call(NamedTuple):
    """Immutable (a named tuple: made on every request, it costs one tuple, not a setattr per field)."""

    request_id: str
    project_id: str
    key_id: str | None  # None: no gateway key (the embedded Connector, a replay of its requests)
    capability: Capability
    started: float  # a time.perf_counter() value
    deadline: float | None = None  # likewise; None: only the provider's own timeouts apply
    retries: int = 1  # tries on the same target after the first
    priority: Priority = Priority.NORMAL
    forward_headers: Mapping[str, str] = NO_HEADERS  # caller headers a provider wants passed on
    cache: CacheAsk = NO_CACHE_ASK
    coalesce: bool = False  # the caller opted in to sharing an identical call in flight
    idempotency_key: str | None = None  # the caller says sending this twice is safe
    dead_letter: bool = True  # False for a replay: its outcome belongs to the entry it came from
    tracing: AttemptTracing | None = None  # only while tracing is on

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.perf_counter()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts outside a call (an admin operation, the command line): for audit rows and credentials."""

    request_id: str
    project_id: str
    key_id: str | None = None
    # Caller headers a provider wants passed on (a verification probe sends them like any call).
    forward_headers: Mapping[str, str] = field(default_factory=lambda: NO_HEADERS)
