"""Request coalescing: identical requests in flight at once share one upstream call.

The call runs in a task of its own; each waiter awaits it through ``asyncio.shield``, so a waiter
that is cancelled (its client went away) leaves the call, and the others, untouched. A failure
reaches every waiter. The entry is removed when the call ends: later requests start a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class Coalescer:
    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Task[Any]] = {}
        self.shared = 0  # requests answered by another's call (for stats and tests)

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The call's result, and whether this caller joined another's call (True) or led it."""
        task = self._flights.get(key)
        joined = task is not None
        if task is None:
            task = asyncio.ensure_future(call())
            self._flights[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        else:
            self.shared += 1
        return await asyncio.shield(task), joined

    def _forget(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # marks the failure as seen even if every waiter went away

    @property
    def in_flight(self) -> int:
        return len(self._flights)
