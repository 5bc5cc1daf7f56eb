"""Governance through the real HTTP service: 429 with headers, the response cache (project-scoped,
streams replayed, errors never kept), coalescing, cost, estimates, budgets and quota steering."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway import RunningGateway, run_gateway
from tests.governance.upstream import fake_upstream, two_provider_route

CHAT = {"model": "up/custom-1", "messages": [{"role": "user", "content": "hi there"}]}


def _config(base_url: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "providers": {"up": {"type": "openai_compatible", "base_url": base_url}},
        "prices": {"custom-1": {"input_per_mtok": 2.0, "output_per_mtok": 10.0}},
    }
    config.update(extra)
    return config


def post(gateway: RunningGateway, path: str, body: Any, key: str | None = None, **headers: str) -> httpx.Response:
    return httpx.post(gateway.base_url + path, json=body, headers={**gateway.headers(key), **headers}, timeout=30)


def test_no_limits_means_no_limit_headers(tmp_path: Path) -> None:
    with fake_upstream() as up, run_gateway(tmp_path, _config(up.base_url)) as gateway:
        answer = post(gateway, "/v1/chat/completions", CHAT)
        assert answer.status_code == 200
        assert not [h for h in answer.headers if h.startswith("x-ratelimit")]


def test_key_limit_refuses_with_429_retry_after_and_ratelimit_headers(tmp_path: Path) -> None:
    limits = {"burst": 0.0, "default_key": {"requests_per_minute": 2}}
    with fake_upstream() as up, run_gateway(tmp_path, _config(up.base_url, limits=limits)) as gateway:
        first = post(gateway, "/v1/chat/completions", CHAT)
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        refused = post(gateway, "/v1/chat/completions", CHAT)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        assert up.calls == 1  # the refused request never reached the provider
        generic = post(gateway, "/v1/requests", {"provider": "up", "endpoint": "/chat/completions", "body": CHAT})
        assert generic.status_code == 429 and generic.json()["error"]["code"] == "rate_limited"


def test_cache_hits_within_a_project_never_across(tmp_path: Path) -> None:
    with fake_upstream() as up, run_gateway(tmp_path, _config(up.base_url)) as gateway:
        first = post(gateway, "/v1/chat/completions", CHAT, **{"x-cache-ttl": "60"})
        again = post(gateway, "/v1/chat/completions", CHAT, **{"x-cache-ttl": "60"})
        assert first.json() == again.json() and again.headers.get("x-cache") == "hit"
        assert up.calls == 1
        org = httpx.post(gateway.base_url + "/admin/organizations", json={"name": "o"}, headers=gateway.headers())
        other = httpx.post(
            gateway.base_url + "/admin/projects",
            headers=gateway.headers(),
            json={"organization_id": org.json()["id"], "name": "other"},
        ).json()
        elsewhere = post(gateway, "/v1/chat/completions", CHAT, **{"x-cache-ttl": "60", "x-project-id": other["id"]})
        assert elsewhere.status_code == 200 and "x-cache" not in elsewhere.headers
        assert up.calls == 2  # another project's identical request went upstream
        stats = httpx.get(gateway.base_url + "/admin/cache/stats", headers=gateway.headers()).json()["data"]
        assert stats["hits"] == 1 and stats["misses"] == 2 and stats["entries"] == 2 and stats["bytes"] > 0
        assert stats["hit_rate"] == pytest.approx(1 / 3, abs=1e-3)


def test_generic_requests_cache_by_key_and_clear_by_pattern(tmp_path: Path) -> None:
    with fake_upstream() as up, run_gateway(tmp_path, _config(up.base_url)) as gateway:
        body = {"provider": "up", "endpoint": "/chat/completions", "body": CHAT, "cache_key": "faq:1", "cache_ttl": 60}
        first = post(gateway, "/v1/requests", body).json()
        second = post(gateway, "/v1/requests", body).json()
        assert first["metadata"]["cached"] is False and second["metadata"]["cached"] is True
        assert first["data"] == second["data"] and up.calls == 1
        removed = httpx.delete(
            gateway.base_url + "/admin/cache", params={"pattern": "faq:*"}, headers=gateway.headers()
        ).json()["data"]["removed"]
        assert removed == 1
        assert post(gateway, "/v1/requests", body).json()["metadata"]["cached"] is False
        assert up.calls == 2


def test_errors_are_never_cached(tmp_path: Path) -> None:
    with fake_upstream(status=400) as up, run_gateway(tmp_path, _config(up.base_url)) as gateway:
        for _ in range(2):
            assert post(gateway, "/v1/chat/completions", CHAT, **{"x-cache-ttl": "60"}).status_code == 400
        assert up.calls == 2


def test_a_cached_stream_is_replayed_as_a_stream_and_broken_ones_are_not_kept(tmp_path: Path) -> None:
    streamed = {"model": "sandbox/sandbox-chat", "stream": True, "messages": [{"role": "user", "content": "s"}]}
    with run_gateway(tmp_path) as gateway:
        live = post(gateway, "/v1/chat/completions", streamed, **{"x-cache-ttl": "60"})
        replay = post(gateway, "/v1/chat/completions", streamed, **{"x-cache-ttl": "60"})
        assert replay.headers["content-type"].startswith("text/event-stream") and replay.headers["x-cache"] == "hit"
        assert replay.text == live.text and replay.text.rstrip().endswith("data: [DONE]")
        broken = {**streamed, "messages": [{"role": "user", "content": "broken"}]}
        fault = {"x-cache-ttl": "60", "x-sandbox-fault": "truncate"}
        post(gateway, "/v1/chat/completions", broken, **fault)
        after = post(gateway, "/v1/chat/completions", broken, **{"x-cache-ttl": "60"})
        assert "x-cache" not in after.headers


async def _fire(gateway: RunningGateway, count: int, body: dict[str, Any], **headers: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as client:
        return await asyncio.gather(
            *[
                client.post("/v1/chat/completions", json=body, headers={**gateway.headers(), **headers})
                for _ in range(count)
            ]
        )


def test_fifty_identical_requests_share_one_upstream_call(tmp_path: Path) -> None:
    deterministic = {**CHAT, "temperature": 0}
    with fake_upstream(delay=0.5) as up, run_gateway(tmp_path, _config(up.base_url)) as gateway:
        answers = asyncio.run(_fire(gateway, 50, deterministic))
        assert up.calls == 1
        assert [a.status_code for a in answers] == [200] * 50
        assert {a.json()["choices"][0]["message"]["content"] for a in answers} == {"echo: hi there"}
        # Opted in (x-coalesce) works for requests with sampling too.
        asyncio.run(_fire(gateway, 10, CHAT, **{"x-coalesce": "1"}))
        assert up.calls == 2


def test_a_shared_failure_reaches_every_waiter(tmp_path: Path) -> None:
    deterministic = {**CHAT, "temperature": 0}
    with fake_upstream(delay=0.3, status=400) as up, run_gateway(tmp_path, _config(up.base_url)) as gateway:
        answers = asyncio.run(_fire(gateway, 20, deterministic))
        assert up.calls == 1 and {a.status_code for a in answers} == {400}


def test_usage_records_cost_and_estimate_prices_before_sending(tmp_path: Path) -> None:
    with fake_upstream() as up, run_gateway(tmp_path, _config(up.base_url)) as gateway:
        estimate = post(gateway, "/admin/usage/estimate", {**CHAT, "max_tokens": 100}).json()["data"]
        assert estimate["completion_tokens"] == 100 and estimate["cost_usd"] == pytest.approx(
            (estimate["prompt_tokens"] * 2 + 100 * 10) / 1e6
        )
        assert post(gateway, "/v1/chat/completions", CHAT).status_code == 200
        usage = []
        for _ in range(50):
            usage = httpx.get(gateway.base_url + "/admin/usage", headers=gateway.headers()).json()["data"]
            if usage:
                break
            time.sleep(0.05)
        # 1000 prompt tokens at 2 USD/Mtok + 500 completion tokens at 10 USD/Mtok.
        assert usage[0]["cost_usd"] == pytest.approx(0.007)
        assert usage[0]["prompt_tokens"] == 1000 and usage[0]["completion_tokens"] == 500
        assert up.calls == 1


def test_budget_hard_stop_before_the_call(tmp_path: Path) -> None:
    with fake_upstream() as up:
        config = _config(up.base_url, budgets={"keys": {}, "projects": {}})
        with run_gateway(tmp_path, config) as gateway:
            project = gateway.services.default_project_id
        config["budgets"] = {"projects": {project: {"usd": 0.01, "soft_ratio": 0.5}}}
        with run_gateway(tmp_path, config) as gateway:
            assert gateway.services.default_project_id == project
            assert post(gateway, "/v1/chat/completions", CHAT).status_code == 200  # 0.007 spent
            assert post(gateway, "/v1/chat/completions", CHAT).status_code == 200  # 0.014: over now
            stopped = post(gateway, "/v1/chat/completions", CHAT)
            assert stopped.status_code == 402 and stopped.json()["error"]["code"] == "budget_exceeded"
            assert up.calls == 2
            status = httpx.get(gateway.base_url + "/admin/budgets", headers=gateway.headers()).json()["data"]
            assert status[0]["exhausted"] is True and status[0]["alert"] is True


def test_quota_headers_steer_away_before_429(tmp_path: Path) -> None:
    low = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"}
    with fake_upstream(headers=low) as first, fake_upstream() as second:
        config = two_provider_route(first, second)
        with run_gateway(tmp_path, config) as gateway:
            body = {"model": "r", "messages": [{"role": "user", "content": "x"}]}
            assert post(gateway, "/v1/chat/completions", body).status_code == 200
            assert (first.calls, second.calls) == (1, 0)
            # "a" said it has no requests left for 30 s: the next ones go to "b" without trying "a".
            for _ in range(3):
                assert post(gateway, "/v1/chat/completions", body).status_code == 200
            assert (first.calls, second.calls) == (1, 3)
