"""The access log: one JSON line a request, built and written cheaply.

It sits on every request, so it skips the general logger's processor chain: the fields are fixed and
free of secrets (method, path without query, status, time, request id), lines are buffered and
written in one go every ``flush_interval`` (and on shutdown), never one system call a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import time
from typing import TextIO

import orjson


class RequestIds:
    """Unique request ids without a random draw each: a random per-process prefix and a counter."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


class AccessLog:
    def __init__(self, service: str, stream: TextIO | None = None, flush_interval: float = 0.2) -> None:
        self._service = service
        self._stream = stream
        self._pending: list[bytes] = []
        self._interval = flush_interval
        self._task: asyncio.Task[None] | None = None
        self._second = -1
        self._second_text = ""

    def _stamp(self, second: int) -> str:
        # Formatting the date is most of a line's cost; it changes once a second.
        if second != self._second:
            self._second, self._second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._second_text

    def record(self, method: str, path: str, status: int, ms: float, request_id: str) -> None:
        now = time.time()
        line = orjson.dumps(
            {
                "event": "request",
                "level": "info",
                "service": self._service,
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "ms": round(ms, 2),
                "ts": f"{self._stamp(int(now))}.{int(now % 1 * 1e6):06d}Z",
            }
        )
        self._pending.append(line)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self._interval)
        finally:
            self._task = None
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        out = self._stream or sys.stdout
        out.write(b"\n".join(lines).decode("utf-8") + "\n")
        with contextlib.suppress(ValueError, OSError):
            out.flush()
