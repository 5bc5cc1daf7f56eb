"""The running gateway in front of one replayed upstream, with instances of several providers on it.

Each instance points at the same replay server (its vendor's real base URL moved onto it), so a test
can send to any of them and see, in ``upstream.received``, exactly what reached the vendor, or that
nothing did.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.gateway import RunningGateway, run_gateway
from tests.recorded import Interaction
from tests.replay_upstream import ReplayServer, replay_upstream

KEY_ENV = "REPLAYED_UPSTREAM_KEY"


@dataclass
class Replayed:
    gateway: RunningGateway
    upstream: ReplayServer
    secret: str


@asynccontextmanager
async def replayed_gateway(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instances: Mapping[str, tuple[str, str]],
    interactions: list[Interaction],
    credential: str | None = None,
    routes: Mapping[str, Any] | None = None,
) -> AsyncIterator[Replayed]:
    """``instances``: name -> (provider type, the vendor's real base URL). ``credential``: the secret
    they all present (a random key by default). ``routes``: the configuration's routes, if any."""
    secret = credential or f"replayed-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, secret)
    async with replay_upstream(interactions) as upstream:
        providers: dict[str, Any] = {
            name: {"type": kind, "base_url": upstream.rebase(real), "credential": f"env:{KEY_ENV}"}
            for name, (kind, real) in instances.items()
        }
        with run_gateway(tmp_path, {"providers": providers, "routes": dict(routes or {})}) as gateway:
            yield Replayed(gateway, upstream, secret)
        assert not upstream.unexpected
