"""Shared fixtures: a running gateway on the embedded default (SQLite file, in-memory state)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway import RunningGateway, run_gateway


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    with run_gateway(tmp_path) as running:
        yield running


from tests.postgres import postgres_url  # noqa: E402,F401  (the session fixture, shared by every folder)
from tests.redis_space import redis_namespace, redis_prefix  # noqa: E402,F401  (shared Redis fixtures)
