"""Ending a background task: cancelled, then awaited, so nothing of it runs after its owner closed."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background loop and wait until it has ended (nothing to do for None or a finished one)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
