"""No outbound call follows a redirect: alert webhooks, health probes and credential verification probes.

Each upstream here answers every request with ``302 Location: http://0.0.0.0:<port>/x``, where a
listener on loopback counts what reaches it (on Linux a connection to 0.0.0.0 lands on a local
listener, which is why a followed redirect there is an SSRF). A 3xx is an answer: the listener must
never be hit, the call counts as failed, and what is logged says why without the URL's path, query
or the redirect's target (any of which may carry a token).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiohttp import web
from tests.gateway import RunningGateway, run_gateway
from tests.loopback import serve

PATH_SECRET = "hooktoken-5f2a9c"  # in the webhook's path and query, as Slack-style webhooks carry tokens
LOCATION_SECRET = "locsig-81d3e7"  # in the redirect's target


@dataclass
class Server:
    url: str
    hits: list[str] = field(default_factory=list)


@asynccontextmanager
async def _serve(respond: Callable[[web.Request], web.StreamResponse]) -> AsyncIterator[Server]:
    """A loopback server answering ``respond(request)`` and keeping every request's method and path."""
    server = Server("")

    async def handle(request: web.Request) -> web.StreamResponse:
        server.hits.append(f"{request.method} {request.path_qs}")
        await request.read()
        return respond(request)

    async with serve(handle) as server.url:
        yield server


@asynccontextmanager
async def redirect_trap() -> AsyncIterator[tuple[Server, Server]]:
    """(redirector, listener): the first answers 302 to the second, addressed as 0.0.0.0."""
    async with _serve(lambda _: web.Response(status=204)) as listener:
        port = listener.url.rsplit(":", 1)[1]
        target = f"http://0.0.0.0:{port}/x?sig={LOCATION_SECRET}"
        async with _serve(lambda _: web.Response(status=302, headers={"Location": target})) as redirector:
            yield redirector, listener


async def _until(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def _logged(gateway: RunningGateway, event: str) -> list[dict[str, Any]]:
    return [entry for entry in map(orjson.loads, gateway.logs.lines()) if entry.get("event") == event]


def _no_secrets(gateway: RunningGateway) -> None:
    for line in gateway.logs.lines():
        assert PATH_SECRET not in line and LOCATION_SECRET not in line and "0.0.0.0" not in line, line


async def test_alert_webhook_answering_a_redirect_is_a_failed_delivery(tmp_path: Path) -> None:
    async with redirect_trap() as (redirector, listener):
        hook = f"{redirector.url}/hook/{PATH_SECRET}?token={PATH_SECRET}"
        config = {
            "providers": {
                "down": {"type": "sandbox", "headers": {"x-sandbox-status": "503"}, "health_check": {"interval": 0.1}}
            },
            "health": {"unhealthy_after": 2},
            "alerts": {"consecutive_failures": 2, "retries": 2, "backoff": 0.05, "webhooks": [{"url": hook}]},
        }
        with run_gateway(tmp_path, config) as gateway:
            alerts = gateway.services.health.alerts if gateway.services.health else None
            assert alerts is not None
            await _until(lambda: bool(_logged(gateway, "alert not delivered") or alerts.sent))
            await asyncio.sleep(0.3)  # room for a (wrong) retry or a late follow of the redirect
            assert listener.hits == []
            assert alerts.sent == [] and alerts.failed_deliveries == 1
            failure = _logged(gateway, "alert not delivered")[0]
            _no_secrets(gateway)
    assert len(redirector.hits) == 1  # a redirect is not retried: the same answer would come back
    assert "302" in failure["reason"] and "redirect" in failure["reason"]
    assert failure["webhook"] == "http://127.0.0.1"


async def test_health_probe_answered_with_a_redirect_fails(tmp_path: Path) -> None:
    async with redirect_trap() as (redirector, listener):
        config = {
            "providers": {
                "moved": {
                    "type": "openai_compatible",
                    "base_url": f"{redirector.url}/v1/{PATH_SECRET}",
                    "health_check": {"interval": 0.1},
                }
            },
            "health": {"unhealthy_after": 2},
        }
        with run_gateway(tmp_path, config) as gateway:
            await _until(lambda: len(redirector.hits) >= 3)
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
                report = (await http.get("/admin/health/moved")).json()
            logged = _logged(gateway, "health probe failed")
            _no_secrets(gateway)
    assert listener.hits == []
    assert not report["is_healthy"] and report["consecutive_failures"] >= 2
    assert "302" in report["last_error"] and "redirect" in report["last_error"]
    assert len(logged) == 1 and logged[0]["provider"] == "moved" and "302" in logged[0]["reason"]


async def test_credential_verification_answered_with_a_redirect_is_not_valid(tmp_path: Path) -> None:
    async with redirect_trap() as (redirector, listener):
        config = {"providers": {"moved": {"type": "openai_compatible", "base_url": f"{redirector.url}/v1"}}}
        with run_gateway(tmp_path, config) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
                created = await http.post(
                    "/admin/credentials",
                    json={"name": "moved-key", "provider": "moved", "secret": "sk-redirected-0123456789"},
                )
            _no_secrets(gateway)
    assert listener.hits == []
    assert redirector.hits == ["GET /v1/models"]
    assert created.status_code == 201, created.text
    current = created.json()["versions"][0]
    assert current["verification"] == "unverified: unreachable"
    assert "302" in current["verification_detail"]
