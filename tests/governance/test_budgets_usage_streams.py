"""Budgets alert once per period through the webhooks and survive a restart without Redis; streams carry
x-ratelimit-*; cache hits and coalesced followers are recorded with their provider and tokens at cost 0;
quota steering learnt by one replica is used by another."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api_connector.governance.budgets import Budgets
from api_connector.governance.settings_model import BudgetsConfig, BudgetSpec
from api_connector.storage.budget_scripts import BudgetCounters
from api_connector.storage.redis import SharedRedis
from tests.gateway import RunningGateway, run_gateway
from tests.governance.upstream import fake_upstream, two_provider_route
from tests.redis_space import REDIS_URL

CHAT = {"model": "up/custom-1", "messages": [{"role": "user", "content": "hi there"}]}
PRICES = {"custom-1": {"input_per_mtok": 2.0, "output_per_mtok": 10.0}}  # 0.007 USD per answer


def post(gateway: RunningGateway, path: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(gateway.base_url + path, json=body, headers={**gateway.headers(), **headers}, timeout=30)


def _usage(gateway: RunningGateway, count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for _ in range(100):
        rows = httpx.get(gateway.base_url + "/admin/usage", headers=gateway.headers()).json()["data"]
        if len(rows) >= count:
            break
        time.sleep(0.05)
    return rows


def test_the_soft_threshold_alerts_once_and_a_restart_keeps_the_spend(tmp_path: Path) -> None:
    with fake_upstream() as up:
        config: dict[str, Any] = {
            "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
            "prices": PRICES,
            "alerts": {"webhooks": [{"url": up.base_url.removesuffix("/v1") + "/hook", "allow_private": True}]},
        }
        with run_gateway(tmp_path, config) as gateway:
            project = gateway.services.default_project_id
        config["budgets"] = {"projects": {project: {"usd": 0.02, "soft_ratio": 0.5}}}
        with run_gateway(tmp_path, config) as gateway:
            for _ in range(2):  # 0.007, then 0.014: the threshold (0.01) is crossed by the second
                assert post(gateway, "/v1/chat/completions", CHAT).status_code == 200
            assert post(gateway, "/v1/chat/completions", CHAT).status_code == 200  # 0.021: over now
            for _ in range(100):
                if up.hooks:
                    break
                time.sleep(0.02)
            time.sleep(0.2)
            assert [h["type"] for h in up.hooks] == ["budget.threshold"]
            assert up.hooks[0]["data"]["id"] == project and up.hooks[0]["data"]["budget_usd"] == 0.02
            _usage(gateway, 3)
        with run_gateway(tmp_path, config) as gateway:  # no Redis: the spend comes back from the usage rows
            status = httpx.get(gateway.base_url + "/admin/budgets", headers=gateway.headers()).json()["data"]
            assert status[0]["spent"] == pytest.approx(0.021) and status[0]["exhausted"] is True
            stopped = post(gateway, "/v1/chat/completions", CHAT)
            assert stopped.status_code == 402 and up.calls == 3
        time.sleep(0.2)
        assert len(up.hooks) == 1  # the restart did not announce the crossed threshold again


async def test_with_redis_one_replica_announces_a_threshold_once_per_period() -> None:
    client = Redis.from_url(REDIS_URL)
    prefix = f"apc-test-budget-{time.monotonic_ns()}:"
    config = BudgetsConfig(keys={"k": BudgetSpec(usd=1.0, soft_ratio=0.5)})
    sent: list[dict[str, Any]] = []
    replicas = [Budgets(config, BudgetCounters(SharedRedis(client, prefix))) for _ in range(2)]
    for budgets in replicas:
        budgets.alert = lambda kind, data: sent.append(data)
    try:
        for _ in range(4):
            for budgets in replicas:
                budgets.add("p", "k", 0.2)
        for budgets in replicas:
            await budgets.close()
        assert len(sent) == 1 and sent[0]["kind"] == "key"
        gate = replicas[0].gates("p", "k")[0]
        assert float(await client.get(prefix + "budget:" + gate.key) or 0) == pytest.approx(1.6)
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def test_streams_carry_the_callers_ratelimit_headers_before_the_first_byte(tmp_path: Path) -> None:
    config = {
        "providers": {"up": {"type": "openai_compatible", "base_url": ""}},
        "limits": {"burst": 0.1, "default_key": {"requests_per_minute": 100}},
    }
    with fake_upstream() as up:
        config["providers"]["up"]["base_url"] = up.base_url  # type: ignore[index]
        with run_gateway(tmp_path, config) as gateway:
            streamed = {"model": "sandbox/sandbox-chat", "stream": True, "messages": [{"role": "user", "content": "s"}]}
            with httpx.stream(
                "POST", gateway.v1 + "/chat/completions", json=streamed, headers=gateway.headers()
            ) as answer:
                assert answer.headers["content-type"].startswith("text/event-stream")
                assert answer.headers["x-ratelimit-limit-requests"] == "100"
                assert int(answer.headers["x-ratelimit-remaining-requests"]) >= 0
            generic = {"provider": "up", "endpoint": "/chat/completions", "body": CHAT}
            with httpx.stream("POST", gateway.v1 + "/requests/stream", json=generic, headers=gateway.headers()) as raw:
                assert raw.status_code == 200 and raw.headers["x-ratelimit-limit-requests"] == "100"


def test_cache_hits_and_coalesced_followers_are_recorded_with_tokens_at_cost_zero(tmp_path: Path) -> None:
    config = {"providers": {"up": {"type": "openai_compatible", "base_url": ""}}, "prices": PRICES}
    with fake_upstream(delay=0.4) as up:
        config["providers"]["up"]["base_url"] = up.base_url  # type: ignore[index]
        with run_gateway(tmp_path, config) as gateway:
            body = {**CHAT, "temperature": 0}

            async def three() -> list[httpx.Response]:
                async with httpx.AsyncClient(timeout=30) as client:
                    url, headers = gateway.v1 + "/chat/completions", gateway.headers()
                    return await asyncio.gather(*[client.post(url, json=body, headers=headers) for _ in range(3)])

            assert {a.status_code for a in asyncio.run(three())} == {200} and up.calls == 1
            for _ in range(2):
                assert post(gateway, "/v1/chat/completions", CHAT, **{"x-cache-ttl": "60"}).status_code == 200
            rows = _usage(gateway, 5)
    coalesced = [r for r in rows if r["coalesced"]]
    leaders = [r for r in rows if not r["coalesced"] and not r["cached"]]
    hits = [r for r in rows if r["cached"]]
    assert len(coalesced) == 2 and len(leaders) == 2 and len(hits) == 1
    for row in coalesced + hits:
        assert (row["provider"], row["model"], row["cost_usd"]) == ("up", "custom-1", 0.0)
        assert (row["prompt_tokens"], row["completion_tokens"]) == (1000, 500)
    assert [r["cost_usd"] for r in leaders] == [pytest.approx(0.007)] * 2  # counted once per upstream call


def test_quota_steering_learnt_by_one_replica_is_used_by_another(tmp_path: Path, redis_prefix: str) -> None:
    low = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"}
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
    with fake_upstream(headers=low) as first, fake_upstream() as second:
        config = two_provider_route(first, second)
        body = {"model": "r", "messages": [{"role": "user", "content": "x"}]}
        with run_gateway(tmp_path, config, **shared) as one, run_gateway(tmp_path, config, **shared) as two:
            assert post(one, "/v1/chat/completions", body).status_code == 200
            assert (first.calls, second.calls) == (1, 0)
            time.sleep(1.0)  # two polls of the shared set
            for _ in range(3):
                assert post(two, "/v1/chat/completions", body).status_code == 200
            assert (first.calls, second.calls) == (1, 3)
