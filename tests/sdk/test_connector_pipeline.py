"""The embedded Connector runs the same pipeline as the HTTP routes, its streams included.

``make_streaming_request`` used to open the upstream stream directly, past admission control and the
provider's configured limits that the HTTP path applies; an embedded user now gets the same layers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from api_connector.config import parse_config
from api_connector.sdk import Connector, RequestFailed
from api_connector.settings import load_settings

CHAT = {"model": "sandbox-chat", "stream": True, "messages": [{"role": "user", "content": "a long answer please"}]}


def _settings(tmp_path: Path, **extra: object) -> object:
    return load_settings(data_dir=tmp_path / "data", env="test", record_flush_interval=0.05, **extra)


async def _drain(connector: Connector, **options: object) -> bytes:
    return b"".join([piece async for piece in connector.make_streaming_request("/chat/completions", **options)])


async def test_streams_are_admitted_like_every_call(tmp_path: Path) -> None:
    # One call at a time: a stream in progress holds its place until its last byte.
    async with Connector(_settings(tmp_path, max_in_flight=1), parse_config({})) as connector:  # type: ignore[arg-type]
        slow = {"provider": "sandbox", "body": CHAT, "headers": {"x-sandbox-latency-ms": "400"}}
        first = asyncio.create_task(_drain(connector, **slow))
        await asyncio.sleep(0.1)
        with pytest.raises(RequestFailed) as refused:
            await _drain(connector, provider="sandbox", body=CHAT)
        assert refused.value.error.code == "overloaded"
        assert b"data: [DONE]" in await first
        assert b"data: [DONE]" in await _drain(connector, provider="sandbox", body=CHAT)  # the place came back


async def test_streams_keep_to_the_providers_limit(tmp_path: Path) -> None:
    config = parse_config({"providers": {"limited": {"type": "sandbox", "rate_limit": {"requests_per_minute": 60}}}})
    async with Connector(_settings(tmp_path), config) as connector:  # type: ignore[arg-type]
        assert b"data: [DONE]" in await _drain(connector, provider="limited", body=CHAT)
        with pytest.raises(RequestFailed) as refused:
            await _drain(connector, provider="limited", body=CHAT)
        assert refused.value.error.code == "rate_limited"


async def test_streams_are_recorded(tmp_path: Path) -> None:
    async with Connector(_settings(tmp_path), parse_config({})) as connector:  # type: ignore[arg-type]
        assert b"data: [DONE]" in await _drain(connector, provider="sandbox", body=CHAT)
        services = connector.services
        usage = []
        for _ in range(200):  # the batch writer flushes every 50 ms here
            usage = await services.usage_queries.list_usage(services.default_project_id)
            if usage:
                break
            await asyncio.sleep(0.02)
        assert [(row.provider, row.status) for row in usage] == [("sandbox", "success")]
