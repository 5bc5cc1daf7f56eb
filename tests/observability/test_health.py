"""Provider health: passive windows, active probes (one replica at a time over Redis), routing around."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from tests.gateway import run_gateway

from api_connector.config import parse_config
from api_connector.credentials.resolver import CredentialResolver
from api_connector.observability.health import HealthRegistry
from api_connector.observability.health_monitor import HealthMonitor
from api_connector.observability.redaction import Redactor
from api_connector.observability.settings_model import HealthConfig
from api_connector.routing.catalog import Catalog
from api_connector.routing.exchange import Upstreams
from api_connector.sandbox.engine import SandboxEngine, _error
from api_connector.sandbox.server import serve_sandbox
from api_connector.storage.redis import SharedRedis
from api_connector.storage.shared_state import SharedState
from api_connector.transport.http import Transport
from api_connector.transport.local import LocalResponse

REDIS_URL = os.environ.get("APC_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


class Switchable(SandboxEngine):
    """The sandbox, with an outage switch and a count of the calls that were not health probes."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    async def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> LocalResponse:
        if not path.endswith("/models"):
            self.calls += 1
        if self.down:
            return _error(503, "down for the test")
        return await super().handle(method, path, headers, body)


def test_passive_window_error_rate_percentiles_and_recovery() -> None:
    now = [1000.0]
    registry = HealthRegistry(HealthConfig(window=60, min_calls=4, error_rate=0.5), clock=lambda: now[0])
    for _ in range(6):
        registry.record_live("a", True, 0.040)
    report = registry.report("a")
    assert report["is_healthy"] and report["error_rate"] == 0.0 and report["window"]["p95_ms"] == 50.0
    for _ in range(6):
        registry.record_live("a", False, 2.0)
    report = registry.report("a")
    assert not report["is_healthy"] and report["error_rate"] == 0.5 and "a" in registry.unhealthy
    assert report["consecutive_failures"] == 6 and report["score"] <= 0.5
    now[0] += 120  # the burst leaves the window; a good probe resets the failure count
    registry.record_probe("a", True, 12.0, __import__("datetime").datetime.now())
    report = registry.report("a")
    assert report["is_healthy"] and "a" not in registry.unhealthy and report["score"] == 1.0


async def _until(check: Any, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_routing_skips_an_unhealthy_provider_and_takes_it_back(tmp_path: Path) -> None:
    engine = Switchable()
    async with serve_sandbox() as (server, url):
        server.engine = engine
        config = {
            "providers": {
                "flaky": {"type": "openai_compatible", "base_url": f"{url}/v1", "health_check": {"interval": 0.1}},
                "backup": {"type": "sandbox"},
            },
            "routes": {
                "chat": {
                    "strategy": "priority",
                    "targets": [{"provider": "flaky", "model": "m"}, {"provider": "backup", "model": "sandbox-chat"}],
                }
            },
            "health": {"unhealthy_after": 2},
        }
        with run_gateway(tmp_path, config, allow_private_upstreams=True) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:

                async def flaky_healthy(expected: bool) -> bool:
                    answer = (await http.get("/admin/health", params={"provider": "flaky"})).json()["data"][0]
                    return bool(answer["is_healthy"] is expected and answer["last_checked"])

                async def chat() -> httpx.Response:
                    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
                    return await http.post("/v1/chat/completions", json=body)

                await _until(lambda: flaky_healthy(True))
                assert (await chat()).status_code == 200 and engine.calls == 1  # flaky serves first

                engine.down = True
                await _until(lambda: flaky_healthy(False))
                report = (await http.get("/admin/health/flaky")).json()
                assert report["consecutive_failures"] >= 2 and report["score"] < 1
                assert set(report) >= {"provider", "is_healthy", "response_time_ms", "error_rate", "last_checked"}
                before = engine.calls
                for _ in range(5):
                    assert (await chat()).status_code == 200
                assert engine.calls == before  # not one live call went to the unhealthy provider

                engine.down = False
                await _until(lambda: flaky_healthy(True))
                assert (await chat()).status_code == 200
                assert engine.calls == before + 1  # taken back


async def test_passive_health_from_live_traffic_alone(tmp_path: Path) -> None:
    config = {"health": {"enabled": False, "min_calls": 3, "error_rate": 0.5}}
    with run_gateway(tmp_path, config) as gateway:
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
            body = {"provider": "sandbox", "endpoint": "/models", "method": "GET", "retries": 0}
            for _ in range(4):
                await http.post("/v1/requests", json=body, headers={"x-sandbox-status": "500"})
            report = (await http.get("/admin/health/sandbox")).json()
            assert not report["is_healthy"] and report["error_rate"] == 1.0 and report["last_checked"] is None
            assert report["window"]["calls"] == 4 and report["window"]["p95_ms"] is not None


@contextlib.asynccontextmanager
async def _redis() -> Any:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    prefix = f"apc-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield client, prefix
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.mark.redis
async def test_one_replica_at_a_time_runs_each_check_and_all_see_it() -> None:
    async with _redis() as (redis, prefix):
        config = parse_config({"providers": {"p": {"type": "sandbox", "health_check": {"interval": 0.3}}}})
        replicas = []
        for _ in range(3):
            catalog = Catalog(config)
            transport = Transport(user_agent="t")
            redactor = Redactor()
            upstreams = Upstreams(transport, CredentialResolver({}, redactor))
            registry = HealthRegistry(config.health)
            shared = SharedState(SharedRedis(redis, prefix))
            replicas.append(HealthMonitor(registry, catalog, upstreams, redactor, shared=shared))
        for _ in range(12):  # about 1.2 s: four intervals
            await asyncio.gather(*(m.tick() for m in replicas))
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.05)
        sent = sum(m.probes_sent for m in replicas)
        # "p" is checked about once per interval in all (the built-in sandbox has no health_check: not probed).
        assert 3 <= sent <= 6, sent
        for monitor in replicas:
            report = monitor.registry.report("*:p")  # keyed by the instance's pool
            assert report["is_healthy"] and report["last_checked"] is not None
        for monitor in replicas:
            await monitor.close()


async def test_same_named_instances_of_two_projects_have_their_own_health(tmp_path: Path) -> None:
    """Project A's "shared" fails, project B's "shared" works: two entries, and only A routes around its own."""
    config = {
        "health": {"unhealthy_after": 2, "min_calls": 100},
        "resilience": {"retry": {"max_retries": 0}, "breaker": {"enabled": False}},
    }
    # The metrics below are told apart by the projects' instance name and route model: names on.
    with run_gateway(tmp_path, config, metrics_project_labels=True) as gateway:
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
            org = (await http.post("/admin/organizations", json={"name": "o"})).json()["id"]
            projects = []
            for name, headers in (("a", {"x-sandbox-status": "503"}), ("b", {})):
                project = (await http.post("/admin/projects", json={"organization_id": org, "name": name})).json()
                scoped = {"x-project-id": project["id"]}
                provider = {"name": "shared", "config": {"type": "sandbox", "headers": headers}}
                assert (await http.post("/admin/providers", json=provider, headers=scoped)).status_code == 201
                route = {"targets": [{"provider": "shared", "model": "m"}, {"provider": "sandbox", "model": "m"}]}
                assert (await http.put("/admin/routes/chat", json=route, headers=scoped)).status_code == 201
                projects.append(scoped)
            a, b = projects
            body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
            registry = gateway.services.metrics.registry

            def served_by(provider: str) -> float:
                labels = {"provider": provider, "model": "m", "capability": "chat", "outcome": "success"}
                return registry.get_sample_value("api_connector_requests_total", labels) or 0.0

            def failures() -> float:  # failed attempts on an instance named "shared", of either project
                return sum(
                    s.value
                    for m in registry.collect()
                    if m.name == "api_connector_upstream_failures"
                    for s in m.samples
                    if s.name.endswith("_total") and s.labels["provider"] == "shared"
                )

            for _ in range(2):  # A's "shared" fails twice (the sandbox serves): unhealthy
                assert (await http.post("/v1/chat/completions", json=body, headers=a)).status_code == 200
            assert failures() == 2

            health_a = (await http.get("/admin/health", headers=a)).json()["data"]
            health_b = (await http.get("/admin/health", headers=b)).json()["data"]
            shared_a = [r for r in health_a if r["provider"] == "shared"]
            shared_b = [r for r in health_b if r["provider"] == "shared"]
            assert len(shared_a) == 1 and len(shared_b) == 1  # each project sees its own instance only
            assert not shared_a[0]["is_healthy"] and shared_a[0]["consecutive_failures"] == 2
            assert shared_b[0]["is_healthy"] and shared_b[0]["consecutive_failures"] == 0
            assert (await http.get("/admin/health/shared", headers=b)).json()["is_healthy"] is True

            before = served_by("sandbox")
            assert (await http.post("/v1/chat/completions", json=body, headers=a)).status_code == 200
            assert failures() == 2 and served_by("sandbox") == before + 1  # A no longer tries its "shared"
            shared_before = served_by("shared")
            assert (await http.post("/v1/chat/completions", json=body, headers=b)).status_code == 200
            assert served_by("shared") == shared_before + 1  # B still routes to its own, healthy "shared"
