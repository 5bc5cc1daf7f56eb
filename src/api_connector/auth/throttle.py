"""Failed-authentication throttling: an address that keeps presenting bad gateway keys is turned away.

Each invalid key presented from a client address counts in a fixed window (``AUTH_FAILURE_WINDOW``
seconds). Once an address reaches ``AUTH_FAILURE_LIMIT`` failures in a window, its requests are
answered 429 ``auth_throttled`` with the window's remaining seconds as Retry-After, before any key is
looked up (a brute force then costs the service a dictionary lookup, not a database read). A valid key
from another address is unaffected. With Redis the count is shared by every replica (one INCR per
failure: only the failure path pays a round trip); each replica blocks an address as soon as one of
its own failures finds the shared count at the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from api_connector.errors import AuthThrottled

if TYPE_CHECKING:
    from api_connector.storage.shared_state import SharedState

_MAX_TRACKED = 100_000  # addresses counted in memory at once (a spoofing flood cannot grow it past this)


class AuthThrottle:
    def __init__(
        self,
        limit: int,
        window: float,
        shared: SharedState | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limit = limit
        self._window = window
        self._shared = shared
        self._clock = clock
        self._counts: dict[str, tuple[int, int]] = {}  # address -> (window number, failures in it)
        self._blocked: dict[str, float] = {}  # address -> blocked until (clock)

    def check(self, address: str) -> None:
        """Refuse an address that is blocked (before its key is looked at)."""
        if not self._blocked:
            return
        until = self._blocked.get(address)
        if until is None:
            return
        now = self._clock()
        if now >= until:
            del self._blocked[address]
            return
        raise AuthThrottled(
            "too many failed authentications from this address; retry later", retry_after=max(1.0, until - now)
        )

    async def failed(self, address: str) -> None:
        """Count a failure; block the address for the rest of the window once it reaches the limit."""
        if self._limit <= 0:
            return
        now = self._clock()
        window = int(now // self._window)
        count = await self._count(address, window)
        if count >= self._limit:
            self._blocked[address] = (window + 1) * self._window
            if len(self._blocked) > _MAX_TRACKED:
                self._blocked.pop(next(iter(self._blocked)))

    async def _count(self, address: str, window: int) -> int:
        if self._shared is not None:
            try:
                return await self._shared.count(f"authfail:{window}:{address}", int(self._window) + 1)
            except Exception:  # Redis down: this replica counts on its own
                pass
        seen_window, count = self._counts.get(address, (window, 0))
        count = count + 1 if seen_window == window else 1
        self._counts[address] = (window, count)
        if len(self._counts) > _MAX_TRACKED:
            self._counts.pop(next(iter(self._counts)))
        return count
