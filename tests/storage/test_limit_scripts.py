"""The limiter's scripts on the real Redis: admissions of one loop turn share a round trip and still
decide one by one, a flushed script is loaded again, and an unreachable Redis is a storage error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from api_connector.errors import SharedStateUnavailable
from api_connector.storage.limit_scripts import Admission, LimitScripts
from api_connector.storage.redis import SharedRedis
from api_connector.storage.redis_scripts import Call
from tests.redis_space import redis_space

SLOT = "key:b:conc"


def _take(scripts: LimitScripts, holder: str) -> asyncio.Future[Admission]:
    # One concurrency rule: at most 7 slots, each leased 30 s.
    return scripts.admit(holder, [SLOT], [["c", 7, 30_000.0, 1.0]], ())


async def test_admissions_of_one_loop_turn_share_a_round_trip_and_stay_exact() -> None:
    """Concurrent admissions go to Redis together; each script still decides alone, in order. A script
    missing from Redis (flushed, restarted server) is loaded again without a refusal."""
    async with redis_space() as (client, prefix):
        scripts = LimitScripts(SharedRedis(client, prefix))
        batches: list[int] = []
        run = scripts._acquire.run

        async def counted(calls: list[Call]) -> list[Any]:
            batches.append(len(calls))
            return await run(calls)

        scripts._acquire.run = counted  # type: ignore[method-assign]
        await client.script_flush()
        answers = await asyncio.gather(*(_take(scripts, f"h{i}") for i in range(20)))
        assert batches == [20]
        assert sum(allowed for allowed, *_ in answers) == 7
        assert await client.zcard(prefix + "rl:" + SLOT) == 7
        allowed, wait_ms, remaining, budget = await _take(scripts, "late")
        assert (allowed, wait_ms, remaining, budget) == (False, 1000.0, [-1], -1)
        admitted = [f"h{i}" for i, (allowed, *_) in enumerate(answers) if allowed]
        await scripts.settle([(SLOT, "c", 0.0, -1.0, holder) for holder in admitted[:3]])
        again = await asyncio.gather(*(_take(scripts, f"g{i}") for i in range(5)))
        assert [allowed for allowed, *_ in again].count(True) == 3
        await scripts.close()


async def test_a_spent_budget_refuses_with_its_index() -> None:
    async with redis_space() as (client, prefix):
        scripts = LimitScripts(SharedRedis(client, prefix))
        await client.set(prefix + "budget:key:k:2024-01", "2.5")
        budgets = [("project:p:2024-01", 10.0), ("key:k:2024-01", 2.0)]
        answer = await scripts.admit("", ["key:k:rpm:60"], [["g", 1000.0, 1000.0, 1.0]], budgets)
        assert answer == (False, 0.0, [], 1)  # the second budget (0-based) refused
        assert await client.get(prefix + "rl:key:k:rpm:60") is None  # nothing moved
        await scripts.close()


async def test_an_unreachable_redis_is_a_storage_error() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    scripts = LimitScripts(SharedRedis(dead, "t:"))
    try:
        with pytest.raises(SharedStateUnavailable):
            await _take(scripts, "h")
        with pytest.raises(SharedStateUnavailable):
            await scripts.settle([(SLOT, "c", 0.0, -1.0, "h")])
        with pytest.raises(SharedStateUnavailable):
            await scripts.renew([(SLOT, "h")], 30_000.0)
    finally:
        await dead.aclose()
