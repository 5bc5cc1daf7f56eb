"""A bounded FIFO with one consumer: what the record writer needs of ``asyncio.Queue``, cheaper per item.

Every request puts one record in and the writer takes them out in batches. ``asyncio.Queue`` spends
about 150 bytecodes an item across ``put_nowait`` and ``get_nowait`` (``full()``, ``qsize()``, waiter
bookkeeping on both sides); here a put is a length check and an append, and a batch leaves in one call.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class RecordQueue(Generic[T]):
    """At most ``maxsize`` items; producers may wait for room, one consumer may wait for an item."""

    __slots__ = ("_getter", "_items", "_maxsize", "_room")

    def __init__(self, maxsize: int) -> None:
        self._items: deque[T] = deque()
        self._maxsize = max(1, maxsize)
        self._getter: asyncio.Future[None] | None = None  # the consumer, waiting in get()
        self._room: asyncio.Event | None = None  # producers waiting in put(); made on first need

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> bool:
        """Append unless full; False (and nothing queued) when full."""
        items = self._items
        if len(items) >= self._maxsize:
            return False
        items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)
        return True

    async def put(self, item: T) -> None:
        """Append, waiting for room first when full (the caller's back-pressure)."""
        while not self.put_nowait(item):
            if self._room is None:
                self._room = asyncio.Event()
            # Cleared before waiting: only a take() after this point can make room, and it sets it.
            # Every waiter woken by one set() retries; those that find no room wait for the next.
            self._room.clear()
            await self._room.wait()

    async def get(self) -> T:
        """The oldest item, waiting for one when empty. One consumer at a time."""
        items = self._items
        while not items:
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        item = items.popleft()
        self._made_room()
        return item

    def take(self, limit: int) -> list[T]:
        """Up to ``limit`` of the oldest items, without waiting."""
        items = self._items
        count = min(limit, len(items))
        if not count:
            return []
        popleft = items.popleft
        taken = [popleft() for _ in range(count)]
        self._made_room()
        return taken

    def put_back(self, taken: list[T]) -> None:
        """Return items taken but not used to the front of the queue, in their order."""
        self._items.extendleft(reversed(taken))

    def _made_room(self) -> None:
        if self._room is not None:
            self._room.set()
