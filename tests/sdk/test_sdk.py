"""The SDK's operations, against a running service (Client) and embedded in-process (Connector)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway import run_gateway

import api_connector
from api_connector.config import parse_config
from api_connector.sdk import Client, Connector, RequestFailed
from api_connector.settings import load_settings


async def _until(check: Any, within: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def _exercise(sdk: Client | Connector) -> None:
    ok = await sdk.make_request("/models", provider="sandbox", method="GET")
    assert ok.success and ok.error is None
    assert ok.metadata.provider == "sandbox" and ok.metadata.request_id
    assert isinstance(ok.data, dict) and ok.data["data"]

    chat = {"model": "sandbox-chat", "messages": [{"role": "user", "content": "hi"}]}
    answered = await sdk.make_request("/chat/completions", provider="sandbox", body=chat)
    assert answered.success and answered.data["choices"][0]["message"]["content"]

    failed = await sdk.make_request(
        "/models", provider="sandbox", method="GET", headers={"x-sandbox-status": "503"}, retries=0
    )
    assert not failed.success and failed.error is not None
    assert failed.error.code == "upstream_error" and failed.error.retryable and failed.error.provider == "sandbox"
    with pytest.raises(RequestFailed):
        failed.raise_for_error()

    invalid = await sdk.make_request("no-leading-slash", provider="sandbox")
    assert not invalid.success and invalid.error is not None and invalid.error.code == "validation_error"

    chunks = [c async for c in sdk.make_streaming_request("/chat/completions", provider="sandbox", body=chat)]
    assert b"".join(chunks).startswith(b"{")  # the sandbox answers a non-streaming body: passed through whole
    with pytest.raises(RequestFailed) as refused:
        async for _ in sdk.make_streaming_request("/models", provider="nope", method="GET"):
            pass
    assert refused.value.error.code == "provider_not_found"

    names = {p.name for p in await sdk.list_providers()}
    assert "sandbox" in names
    await sdk.add_provider("extra-sandbox", {"type": "sandbox"})
    assert "extra-sandbox" in {p.name for p in await sdk.list_providers()}
    extra = await sdk.make_request("/models", provider="extra-sandbox", method="GET")
    assert extra.success
    await sdk.remove_provider("extra-sandbox")
    assert "extra-sandbox" not in {p.name for p in await sdk.list_providers()}

    health = await sdk.check_connection_health()
    sandbox = next(h for h in health if h.provider == "sandbox")
    assert 0 <= sandbox.score <= 1 and sandbox.error_rate >= 0
    one = await sdk.check_connection_health("sandbox")
    assert [h.provider for h in one] == ["sandbox"]

    async def counted() -> dict[str, Any] | None:
        # Usage records reach the database in batches, off the request path: the four "sandbox" ones can be
        # in while the later ones ("nope", "extra-sandbox") are still queued, so wait for what is asserted.
        stats = await sdk.get_usage_stats("sandbox", time_range="1h")
        metrics = await sdk.get_metrics("1h")
        done = sum(row["requests"] for row in stats["data"]) >= 4 and metrics["totals"]["requests"] >= 5
        return metrics if done else None

    metrics = await _until(counted)
    assert metrics is not None and metrics["totals"]["errors"] >= 1
    assert any(p["provider"] == "sandbox" for p in metrics["providers"]) and metrics["series"]


def test_package_exports_the_sdk() -> None:
    assert api_connector.Client is Client and api_connector.Connector is Connector


async def test_client_against_a_running_service(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        async with Client(gateway.base_url, gateway.admin_key) as client:
            await _exercise(client)


async def test_embedded_connector(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", env="test", record_flush_interval=0.05)
    async with Connector(settings, parse_config({})) as connector:
        await _exercise(connector)
    assert orjson.dumps(None)  # closed cleanly (shutdown flushed the writer)
