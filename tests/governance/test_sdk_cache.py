"""``clear_cache`` and ``get_cache_stats`` in the SDK: the Client (over HTTP) and the embedded Connector."""

from __future__ import annotations

from pathlib import Path

from api_connector.config import parse_config
from api_connector.sdk import Client, Connector
from api_connector.settings import load_settings
from tests.gateway import run_gateway

CHAT = {"model": "sandbox-chat", "messages": [{"role": "user", "content": "cache me"}]}


async def _exercise(sdk: Client | Connector) -> None:
    first = await sdk.make_request("/chat/completions", provider="sandbox", body=CHAT, cache_key="sdk:1", cache_ttl=60)
    second = await sdk.make_request("/chat/completions", provider="sandbox", body=CHAT, cache_key="sdk:1", cache_ttl=60)
    assert first.success and second.success and second.metadata.cached and not first.metadata.cached
    stats = await sdk.get_cache_stats()
    assert stats["hits"] == 1 and stats["misses"] == 1 and stats["entries"] == 1 and stats["hit_rate"] == 0.5
    assert await sdk.clear_cache("other:*") == 0
    assert await sdk.clear_cache("sdk:*") == 1
    assert (await sdk.get_cache_stats())["entries"] == 0


async def test_client_cache_operations(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        async with Client(gateway.base_url, gateway.admin_key) as client:
            await _exercise(client)


async def test_connector_cache_operations(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", env="test")
    async with Connector(settings, parse_config({})) as connector:
        await _exercise(connector)
