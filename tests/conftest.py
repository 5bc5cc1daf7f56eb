"""Shared fixtures: a running gateway on the embedded default (SQLite file, in-memory state)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway import RunningGateway, run_gateway


@pytest.fixture(autouse=True, scope="module")
def _settled_heap() -> Iterator[None]:
    """After each test file, what is still alive is set aside from the garbage collector's passes.

    Gateways run in this process (a thread each), so a full collection pauses the gateway under test
    as well as its callers. Over the suite the objects that live on (modules, caches, session
    fixtures) grew those passes to 0.6 s, long enough to fail tests that count what a limit let
    through in a few seconds. Collected first, so nothing set aside is garbage already.
    """
    yield
    gc.collect()
    gc.freeze()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    with run_gateway(tmp_path) as running:
        yield running


from tests.postgres import postgres_url  # noqa: E402,F401  (the session fixture, shared by every folder)
from tests.redis_space import redis_namespace, redis_prefix  # noqa: E402,F401  (shared Redis fixtures)
