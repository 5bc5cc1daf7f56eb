"""Three ``api-connector serve`` processes sharing Redis (and one database, so they share the key) enforce
one global 600 requests/minute limit: pushed at about 4 times the limit for a minute, at most 606 pass
(the limit plus its 1% burst). The limit is one Lua script per request, on Redis's clock."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import yaml

from tests.redis_space import REDIS_URL
from tests.routing.network import service

KEY = "ack_shared_limits_key_0123456789abcdefghijk"
LIMIT = 600
PUSH_SECONDS = 59.5  # every admission falls within 60 s of the first one
RATE = 40.0  # requests per second sent, across the three processes (4x the limit)


odd: list[str] = []


async def _push(bases: list[str]) -> dict[int, int]:
    statuses: dict[int, int] = {}
    body = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "load"}]}
    headers = {"Authorization": f"Bearer {KEY}"}
    pending: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=200)) as client:

        async def one(base: str) -> None:
            try:
                answer = await client.post(base + "/v1/chat/completions", json=body, headers=headers)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code not in (200, 429) and len(odd) < 3:
                    odd.append(answer.text[:300])
            except httpx.TransportError:
                statuses[-1] = statuses.get(-1, 0) + 1

        started = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - started) < PUSH_SECONDS:
            while sent < elapsed * RATE:
                task = asyncio.create_task(one(bases[sent % len(bases)]))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*pending)
    return statuses


def test_three_processes_share_one_limit(tmp_path: Path, redis_prefix: str) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"limits": {"default_key": {"requests_per_minute": LIMIT}}}))
    common = {
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "API_CONNECTOR_CONFIG": str(config),
        "API_CONNECTOR_ADMIN_KEY": KEY,
    }
    with (
        # One data directory: the replicas share its SQLite database, hence the one gateway key.
        service(tmp_path / "shared", "replica-a", **common) as a,
        service(tmp_path / "shared", "replica-b", **common) as b,
        service(tmp_path / "shared", "replica-c", **common) as c,
    ):
        statuses = asyncio.run(_push([a, b, c]))
    accepted, refused = statuses.get(200, 0), statuses.get(429, 0)
    print(f"accepted={accepted} refused={refused} all={statuses}")
    assert set(statuses) <= {200, 429}, (statuses, odd)
    assert refused > 1500  # pushed well beyond the limit
    assert LIMIT * 0.95 <= accepted <= LIMIT + LIMIT // 100
