"""The SDK's connection lifecycle: ``initialize_connections`` and ``refresh_connections`` on the embedded
``Connector`` and on the ``Client`` of a running service, with one provider's upstream down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.test_connections_routes import KEY, file_config
from tests.credentials.upstream import FakeProvider, fake_provider
from tests.gateway import run_gateway

from api_connector.sdk import Client, ConnectionsFailed, Connector, RequestFailed
from api_connector.settings import load_settings


@pytest.fixture
async def up(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeProvider]:
    monkeypatch.setenv("APC_TEST_UP_KEY", KEY)
    async with fake_provider({KEY: "up"}) as provider:
        yield provider


def by_name(statuses: list[Any]) -> dict[str, Any]:
    return {status.provider: status for status in statuses}


async def test_connector_initializes_and_refreshes(tmp_path: Path, up: FakeProvider) -> None:
    settings = load_settings(data_dir=tmp_path / "data", env="test", record_flush_interval=0.05)
    connector = Connector(settings)
    try:
        # An invalid configuration is refused whatever ``strict`` says, and nothing is started.
        with pytest.raises(RequestFailed) as invalid:
            await connector.initialize_connections({"providers": {"x": {"type": "no-such-type"}}})
        assert invalid.value.error.code == "config_error"

        statuses = by_name(await connector.initialize_connections(file_config(up)))
        assert statuses["up"].status == "ok" and statuses["up"].latency_ms is not None
        assert statuses["down"].status == "failed" and statuses["down"].error_code == "connect_error"
        answer = await connector.make_request("/models", provider="up", method="GET")
        assert answer.success  # the probe warmed the pool the request now uses

        with pytest.raises(ConnectionsFailed) as strict:
            await connector.initialize_connections(file_config(up), strict=True)
        assert {s.provider for s in strict.value.statuses if s.failed} == {"down"}
        assert strict.value.error.code == "connections_failed"

        pool = connector.services.transport.opened("*:up")
        refreshed = by_name(await connector.refresh_connections())
        assert refreshed["up"].status == "ok" and refreshed["down"].failed
        assert connector.services.transport.opened("*:up") is not pool
        assert [s.provider for s in await connector.refresh_connections("up", strict=True)] == ["up"]
        with pytest.raises(ConnectionsFailed):
            await connector.refresh_connections(strict=True)
        with pytest.raises(RequestFailed) as missing:
            await connector.refresh_connections("nope")
        assert missing.value.error.code == "not_found"
        assert (await connector.make_request("/models", provider="up", method="GET")).success
    finally:
        await connector.close()


async def test_client_initializes_and_refreshes(tmp_path: Path, up: FakeProvider) -> None:
    with run_gateway(tmp_path, file_config(up), allow_private_upstreams=True) as gateway:
        async with Client(gateway.base_url, gateway.admin_key) as client:
            statuses = by_name(await client.refresh_connections())
            assert statuses["up"].status == "ok" and statuses["down"].error_code == "connect_error"
            with pytest.raises(ConnectionsFailed) as strict:
                await client.refresh_connections(strict=True)
            assert by_name(strict.value.statuses)["up"].status == "ok"
            assert [s.provider for s in await client.refresh_connections("up", strict=True)] == ["up"]
            operator = by_name(await client.refresh_connections(scope="global"))
            assert {"up", "down"} <= set(operator)

            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
                body = {"name": "own-key", "provider": "openai_compatible", "secret": KEY, "verify": False}
                credential = (await http.post("/admin/credentials", json=body)).json()["id"]
            own = {"type": "openai_compatible", "base_url": up.base_url, "credential": credential}
            opened = await client.initialize_connections({"providers": {"own-up": own}}, strict=True)
            assert [(s.provider, s.status) for s in opened] == [("own-up", "ok")]
            assert "own-up" in {p.name for p in await client.list_providers()}
            with pytest.raises(RequestFailed) as invalid:
                await client.initialize_connections({"providers": {"own-bad": {"type": "no-such-type"}}})
            assert invalid.value.status == 400 and invalid.value.error.code == "validation_error"
            with pytest.raises(RequestFailed):
                await client.initialize_connections({"routes": {}})  # a project's providers only
