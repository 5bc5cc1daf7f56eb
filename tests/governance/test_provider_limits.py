"""A provider credential's own limits: concurrent calls across replicas (Redis leases) or in one process,
tokens per minute reserved from the estimate before each attempt, and the Redis work per request."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from api_connector.governance.settings_model import BudgetSpec
from api_connector.storage.limit_scripts import _ACQUIRE, _SETTLE
from api_connector.storage.redis_scripts import ScriptRunner
from tests.gateway import RunningGateway, run_gateway
from tests.governance.upstream import fake_upstream, two_provider_route
from tests.redis_space import REDIS_URL

SCRIPTS = {hashlib.sha1(_ACQUIRE.encode()).hexdigest(): "acquire", hashlib.sha1(_SETTLE.encode()).hexdigest(): "settle"}
BODY = {"model": "r", "messages": [{"role": "user", "content": "hi there"}]}


async def _fire(gateways: list[RunningGateway], count: int, body: dict[str, Any]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(
            *[
                client.post(
                    gateways[i % len(gateways)].v1 + "/chat/completions", json=body, headers=gateways[0].headers()
                )
                for i in range(count)
            ]
        )


def test_a_credential_at_its_concurrency_limit_sends_the_next_call_elsewhere(tmp_path: Path) -> None:
    with fake_upstream(delay=0.5) as first, fake_upstream() as second:
        config = two_provider_route(first, second, {"concurrent_requests": 1})
        with run_gateway(tmp_path, config) as gateway:
            answers = asyncio.run(_fire([gateway], 3, BODY))
            assert [a.status_code for a in answers] == [200, 200, 200]
            assert (first.calls, second.calls) == (1, 2) and first.most_in_flight == 1
            # The slot came back when the call ended.
            assert httpx.post(gateway.v1 + "/chat/completions", json=BODY, headers=gateway.headers()).status_code == 200
            assert first.calls == 2


def test_the_concurrency_limit_holds_across_replicas_sharing_redis(tmp_path: Path, redis_prefix: str) -> None:
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
    with fake_upstream(delay=0.5) as first, fake_upstream() as second:
        config = two_provider_route(first, second, {"concurrent_requests": 2})
        with run_gateway(tmp_path, config, **shared) as a, run_gateway(tmp_path, config, **shared) as b:
            answers = asyncio.run(_fire([a, b], 6, BODY))
            assert {x.status_code for x in answers} == {200}
            assert first.most_in_flight == 2 and first.calls == 2 and second.calls == 4


def test_provider_tokens_are_reserved_before_the_attempt(tmp_path: Path) -> None:
    # Each answer uses 1500 tokens; each request is estimated at its prompt plus max_tokens (~1000).
    body = {**BODY, "max_tokens": 1000}
    with fake_upstream(delay=0.3) as first, fake_upstream() as second:
        config = two_provider_route(first, second, {"tokens_per_minute": 2000})
        with run_gateway(tmp_path, config) as gateway:
            # Two at once: the second's reservation does not fit beside the first's, before either ends.
            answers = asyncio.run(_fire([gateway], 2, body))
            assert {x.status_code for x in answers} == {200}
            assert (first.calls, second.calls) == (1, 1)
        with run_gateway(tmp_path / "again", config) as gateway:
            # One after another: the first used 1500 (settled after), so the next estimate does not fit.
            for _ in range(2):
                assert (
                    httpx.post(gateway.v1 + "/chat/completions", json=body, headers=gateway.headers()).status_code
                    == 200
                )
            assert (first.calls, second.calls) == (2, 2)


def test_admission_is_one_redis_call_and_nothing_waits_for_the_rest(tmp_path: Path, redis_prefix: str) -> None:
    config = {
        "providers": {"up": {"type": "sandbox", "rate_limit": {"requests_per_minute": 1000, "concurrent_requests": 5}}},
        "limits": {"default_key": {"requests_per_minute": 1000, "tokens_per_minute": 1_000_000, "concurrent": 10}},
    }
    with run_gateway(tmp_path, config, redis_url=REDIS_URL, redis_key_prefix=redis_prefix) as gateway:
        project = gateway.services.default_project_id
        gateway.services.governance.budgets._config.projects[project] = BudgetSpec(usd=100.0)  # type: ignore[union-attr]
        gateway.services.governance.budgets.active = True  # type: ignore[union-attr]
        redis = gateway.services.routing.shared.client  # type: ignore[union-attr]
        seen: Counter[str] = Counter()
        original = redis.execute_command

        async def counting(*args: Any, **options: Any) -> Any:
            name = str(args[0]).upper()
            if name == "EVALSHA":
                seen[f"EVALSHA {SCRIPTS.get(str(args[1]), 'other')}"] += 1
            elif any(isinstance(a, str | bytes) and ("rl:" in str(a) or "budget:" in str(a)) for a in args[1:2]):
                seen[name] += 1
            return await original(*args, **options)

        # The limit scripts are sent as prepared bytes (storage/redis_scripts.py), not through
        # execute_command: each call of a batch counts as one EVALSHA.
        send = ScriptRunner._send

        async def counting_scripts(runner: ScriptRunner, calls: Any) -> list[Any]:
            seen[f"EVALSHA {SCRIPTS.get(runner._script.sha, 'other')}"] += len(calls)
            return await send(runner, calls)

        redis.execute_command = counting
        ScriptRunner._send = counting_scripts  # type: ignore[method-assign]
        body = {"model": "up/sandbox-chat", "messages": [{"role": "user", "content": "hi"}]}
        try:
            for _ in range(10):
                answer = httpx.post(gateway.v1 + "/chat/completions", json=body, headers=gateway.headers())
                assert answer.status_code == 200
            gateway.call(asyncio.sleep(0.2))
        finally:
            redis.execute_command = original
            ScriptRunner._send = send  # type: ignore[method-assign]
        print(dict(seen))
        # Per request: the caller's admission (limits + budget) and the provider attempt are one script
        # call each; one settlement for both; no GET of the budget.
        assert seen["EVALSHA acquire"] == 20
        assert seen["EVALSHA settle"] == 10
        assert "GET" not in seen
