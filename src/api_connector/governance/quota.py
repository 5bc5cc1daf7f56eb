"""Provider quota steering: read what providers say of their remaining quota and route away from a
target before it starts answering 429.

Reads ``x-ratelimit-remaining-requests|tokens`` (OpenAI style, also ``anthropic-ratelimit-*-remaining``
and ``ratelimit-remaining``) and the reset headers (through ``classify.retry_after_seconds``), or the
names a provider declares (``ProviderSpec.rate_limit_headers``: Cerebras counts per day and minute,
Fireworks prompt and generated tokens, Together has a bare ``x-ratelimit-remaining``). A target
whose remaining count is at or below ``low_water`` is avoided until its reset time, as long as another
target of the route is available.

With Redis, what one replica learns is shared: a newly exhausted target is published ("exhausted
until T", wall clock, in a sorted set that expires with its entries) in the background, and every
replica merges the set into its local copy from a poll every half second (``governance.sync``). The
request path only reads the local copy: no Redis round trip per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from api_connector.providers.spec import RateLimitHeaders
from api_connector.routing.catalog import Route
from api_connector.routing.classify import retry_after_seconds

_REMAINING = (
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-tokens-remaining",
    "ratelimit-remaining",
    "x-ratelimit-remaining",
)
_DEFAULT_PAUSE = 1.0  # seconds, when a provider says it is out but not until when
_REPUBLISH = 0.5  # seconds: a target seen exhausted again is published again only if this much later

Publish = Callable[[str, float], None]  # target key, exhausted until (wall clock, seconds)


class QuotaTracker:
    def __init__(
        self,
        low_water: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._low = low_water
        self._clock = clock
        self._wall = wall
        self._until: dict[str, float] = {}
        self.publish: Publish | None = None  # shares what this replica learns (set when Redis is used)

    def observe(
        self, target_key: str, status: int, headers: Mapping[str, str], names: RateLimitHeaders | None = None
    ) -> None:
        exhausted = status == 429
        if not exhausted:
            for name in names.remaining if names is not None else _REMAINING:
                value = headers.get(name)
                if value is not None:
                    try:
                        if float(value) <= self._low:
                            exhausted = True
                            break
                    except ValueError:
                        continue
        if exhausted:
            pause = retry_after_seconds(headers, resets=names.reset) if names and names.reset else None
            pause = pause if pause is not None else retry_after_seconds(headers)
            pause = pause if pause is not None else _DEFAULT_PAUSE
            until = self._clock() + pause
            known = self._until.get(target_key)
            self._until[target_key] = until
            if self.publish is not None and (known is None or until > known + _REPUBLISH):
                self.publish(target_key, self._wall() + pause)
        elif target_key in self._until:
            # Only here: other replicas keep avoiding the target until the time it was given (conservative).
            del self._until[target_key]

    def merge(self, shared: Mapping[str, float]) -> None:
        """What other replicas published (target key -> exhausted until, wall clock)."""
        offset = self._clock() - self._wall()
        for key, until_wall in shared.items():
            until = until_wall + offset
            if until > self._until.get(key, 0.0):
                self._until[key] = until

    def exhausted(self, target_key: str) -> bool:
        until = self._until.get(target_key)
        if until is None:
            return False
        if until <= self._clock():
            del self._until[target_key]
            return False
        return True

    def steer(self, route: Route) -> Route:
        """The route without targets known to be out of quota, unless that would leave none."""
        if not self._until:
            return route
        keep = tuple(t for t in route.targets if not self.exhausted(t.key))
        if not keep or len(keep) == len(route.targets):
            return route
        return Route(route.name, route.strategy, keep, route.project_id, route.stale_if_error)
