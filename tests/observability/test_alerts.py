"""Alerts reach a real HTTP receiver, signed per Standard Webhooks (verified with the reference library)."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError
from tests.gateway import run_gateway
from tests.observability.test_health import Switchable

from api_connector.observability.alerts import sign
from api_connector.sandbox.server import serve_sandbox

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


class Receiver:
    def __init__(self) -> None:
        self.verified: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.slack: list[dict[str, Any]] = []
        self.refuse_first = True
        self.paths: list[str] = []  # every other path called

    async def anything(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        return web.Response(status=204)

    async def standard(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = Webhook(SECRET).verify(body, dict(request.headers))
        except WebhookVerificationError:
            return web.Response(status=401)
        self.ids.append(request.headers["webhook-id"])
        if self.refuse_first:  # the first delivery fails: the sender must retry, with the same id
            self.refuse_first = False
            return web.Response(status=500)
        self.verified.append(payload)
        return web.Response(status=204)

    async def slack_hook(self, request: web.Request) -> web.Response:
        self.slack.append(orjson.loads(await request.read()))
        return web.Response(status=200)


@asynccontextmanager
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hooks = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hooks.standard)
    app.router.add_post("/slack", hooks.slack_hook)
    app.router.add_route("*", "/{tail:.*}", hooks.anything)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield hooks, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_signature_matches_the_reference_implementation() -> None:
    body = b'{"type":"x"}'
    signature = sign(SECRET, "msg_1", 1_700_000_000, body)
    assert signature == Webhook(SECRET).sign(
        "msg_1", __import__("datetime").datetime.fromtimestamp(1_700_000_000), body.decode()
    )


async def _until(check: Any, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_one_alert_per_incident_then_one_recovery(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("APC_TEST_WEBHOOK_SECRET", SECRET)
    engine = Switchable()
    async with receiver() as (hooks, hook_url), serve_sandbox() as (server, url):
        server.engine = engine
        config = {
            "providers": {
                "flaky": {"type": "openai_compatible", "base_url": f"{url}/v1", "health_check": {"interval": 0.1}},
            },
            "health": {"unhealthy_after": 2},
            "alerts": {
                "consecutive_failures": 2,
                "backoff": 0.05,
                "webhooks": [
                    {"url": f"{hook_url}/hook", "secret": "env:APC_TEST_WEBHOOK_SECRET"},
                    {"url": f"{hook_url}/slack", "format": "slack"},
                ],
            },
        }
        with run_gateway(tmp_path, config, allow_private_upstreams=True) as gateway:
            engine.down = True
            await _until(lambda: len(hooks.verified) == 1)
            alert = hooks.verified[0]
            assert alert["type"] == "provider.unhealthy" and alert["data"]["provider"] == "flaky"
            assert "consecutive failures" in alert["data"]["reasons"][0]
            assert hooks.ids[0] == hooks.ids[1]  # the retry kept its webhook-id
            await asyncio.sleep(1.0)  # ten more failing probes: still one alert (no storm)
            assert [a["type"] for a in hooks.verified] == ["provider.unhealthy"]

            engine.down = False
            await _until(lambda: len(hooks.verified) == 2)
            recovered = hooks.verified[1]
            assert recovered["type"] == "provider.recovered"
            assert recovered["data"]["incident_id"] == alert["data"]["incident_id"]
            await _until(lambda: len(hooks.slack) == 2)
            assert "provider.unhealthy: flaky" in hooks.slack[0]["text"]
            assert "provider.recovered: flaky" in hooks.slack[1]["text"]
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
                sent = (await http.get("/admin/alerts")).json()["data"]
            assert SECRET not in orjson.dumps(sent).decode()
            assert all(SECRET not in line for line in gateway.logs.lines())


@pytest.mark.redis
async def test_replicas_sharing_redis_announce_each_incident_once() -> None:
    from tests.observability.test_health import _redis

    from api_connector.observability.alerts import AlertManager
    from api_connector.observability.redaction import Redactor
    from api_connector.observability.settings_model import AlertsConfig
    from api_connector.storage.redis import SharedRedis
    from api_connector.storage.shared_state import SharedState

    async with _redis() as (redis, prefix), receiver() as (hooks, hook_url):
        hooks.refuse_first = False
        config = AlertsConfig.model_validate({"webhooks": [{"url": f"{hook_url}/hook", "secret": SECRET}]})
        shared = SharedState(SharedRedis(redis, prefix))
        replicas = [AlertManager(config, Redactor(), shared=shared, allow_private=True) for _ in range(3)]
        down = {
            "provider": "p",
            "is_healthy": False,
            "error_rate": 0.0,
            "consecutive_failures": 5,
            "score": 0.0,
            "last_checked": None,
            "window": {},
        }
        up = {**down, "is_healthy": True, "consecutive_failures": 0, "score": 1.0}
        for manager in replicas:
            manager.evaluate([("*:p", down)])
        await _until(lambda: len(hooks.verified) >= 1)
        for manager in replicas:
            manager.evaluate([("*:p", up)])
        await _until(lambda: len(hooks.verified) >= 2)
        await asyncio.sleep(0.3)
        for manager in replicas:
            await manager.close()
        assert [a["type"] for a in hooks.verified] == ["provider.unhealthy", "provider.recovered"]


async def test_webhooks_the_ssrf_guard_refuses_are_never_contacted(tmp_path: Path) -> None:
    """With private upstreams forbidden, a loopback webhook (a literal address or a name that resolves to
    one) is refused and logged, while one the operator explicitly allowed is delivered."""
    async with receiver() as (hooks, hook_url):
        config = {
            "providers": {
                "down": {"type": "sandbox", "headers": {"x-sandbox-status": "503"}, "health_check": {"interval": 0.1}}
            },
            "health": {"unhealthy_after": 2},
            "alerts": {
                "consecutive_failures": 2,
                "retries": 1,
                "backoff": 0.05,
                "webhooks": [
                    {"url": f"{hook_url}/literal-token-123"},
                    {"url": f"{hook_url.replace('127.0.0.1', 'localhost')}/named-token-456"},
                    {"url": f"{hook_url}/allowed", "allow_private": True},
                ],
            },
        }
        with run_gateway(tmp_path, config, upstream_allow_private=False) as gateway:
            await _until(lambda: "/allowed" in hooks.paths)
            await _until(lambda: sum("alert webhook refused" in line for line in gateway.logs.lines()) >= 2)
            await asyncio.sleep(0.3)  # room for a (wrong) retry of the refused ones
            refusals = [orjson.loads(line) for line in gateway.logs.lines() if "alert webhook refused" in line]
    assert hooks.paths == ["/allowed"]
    by_host = {entry["webhook"]: entry["reason"] for entry in refusals}
    assert "private and loopback addresses are not allowed" in by_host["http://127.0.0.1"]
    assert "resolves only to forbidden addresses" in by_host["http://localhost"]
    assert not any("token" in orjson.dumps(entry).decode() for entry in refusals)  # paths stay out of logs
