"""Waiting on a condition (never a fixed sleep) for tests that watch a background effect land."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(check: Callable[[], bool], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen in time"
        time.sleep(0.1)
