"""A connection refresh under load loses no request.

Eight callers send 320 chat requests in all through a running service to a loopback upstream
(answering a recorded OpenAI chat completion a few milliseconds later) while the provider's connections
are refreshed five times, each refresh started when another stretch of requests has completed. Every
request must succeed, each refresh must have renewed the pool while requests were on it, and the
retired pools must drain to nothing. Bounded: a fixed number of requests, everything stopped at the end.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from tests.api.test_connections_routes import KEY, file_config
from tests.gateway import run_gateway
from tests.loopback import serve
from tests.recorded import load_cassette

from api_connector.sdk import Client

CALLERS = 8
PER_CALLER = 40
REFRESHES = 5
CHAT = {"model": "o3-mini", "messages": [{"role": "user", "content": "Hello"}]}


ANSWER = load_cassette("openai/test_openai_model_without_system_prompt.yaml")[0].response


async def upstream(request: web.Request) -> web.Response:
    """The recorded completion after a few milliseconds (so that requests are in flight when a refresh
    swaps the pool); the probe's model list for the one key it knows."""
    if request.path.endswith("/models"):
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return web.json_response({"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401)
        return web.json_response({"object": "list", "data": [{"id": "o3-mini", "object": "model"}]})
    await asyncio.sleep(0.005)
    return web.Response(status=ANSWER.status, body=ANSWER.body, content_type="application/json")


@dataclass
class UpstreamAt:
    base_url: str


async def test_refreshing_under_load_loses_no_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APC_TEST_UP_KEY", KEY)
    async with serve(upstream) as base:
        config = file_config(UpstreamAt(f"{base}/v1"))
        with run_gateway(tmp_path, config, allow_private_upstreams=True) as gateway:
            transport = gateway.services.transport
            done = 0
            progress = asyncio.Condition()
            failures: list[str] = []
            pools = [transport.opened("*:up")]
            busy_at_renewal: list[int] = []

            async def caller(client: Client) -> None:
                nonlocal done
                for _ in range(PER_CALLER):
                    result = await client.make_request("/chat/completions", provider="up", body=CHAT, retries=0)
                    if not result.success or "potato" not in str(result.data):
                        failures.append(str(result.error))
                    done += 1
                    async with progress:
                        progress.notify_all()

            def reached(count: int) -> bool:
                return done >= count

            async def refresher(client: Client) -> None:
                total = CALLERS * PER_CALLER
                for turn in range(1, REFRESHES + 1):
                    stretch = turn * total // (REFRESHES + 1)
                    async with progress:  # a stretch of requests between refreshes
                        await progress.wait_for(functools.partial(reached, stretch))
                    statuses = await client.refresh_connections("up", strict=True)
                    assert [s.provider for s in statuses] == ["up"]
                    pools.append(transport.opened("*:up"))

            renew = transport.renew

            def renew_and_count(names: Iterable[str]) -> int:
                # How many requests the pool being retired still carries at the moment it is swapped.
                busy_at_renewal.append(transport.opened("*:up").in_use)
                return renew(names)

            monkeypatch.setattr(transport, "renew", renew_and_count)
            clients = [Client(gateway.base_url, gateway.admin_key) for _ in range(CALLERS + 1)]
            try:
                async with asyncio.timeout(120):
                    await asyncio.gather(refresher(clients[0]), *(caller(c) for c in clients[1:]))
            finally:
                for client in clients:
                    await client.close()

            assert failures == []
            assert done == CALLERS * PER_CALLER
            assert len({id(pool) for pool in pools}) == REFRESHES + 1  # every refresh put a new pool in place
            assert all(pool.retired for pool in pools[:-1]) and not pools[-1].retired
            assert all(pool.drained for pool in pools[:-1])  # every retired one let go of its connections
            assert len(busy_at_renewal) == REFRESHES and sum(busy_at_renewal) > 0  # refreshed mid-flight
