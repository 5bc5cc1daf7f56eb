"""Voices through the SDK: ``Client.list_voices`` against the running service and ``Connector.list_voices``
in-process, for a declared list (the sandbox's, OpenAI's) and a provider's own listing (ElevenLabs,
fetched through the pipeline with the credential injected); refusals as ``RequestFailed``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from tests.conformance.rerank_table import DOCUMENTED
from tests.gateway import run_gateway
from tests.threaded_app import threaded_app

from api_connector.config import parse_config
from api_connector.sdk import Client, Connector, RequestFailed, VoiceInfo
from api_connector.settings import load_settings

KEY_ENV = "VOICES_TEST_KEY"
SECRET = "xi-voices-test-0123456789"


@pytest.fixture
def listing(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An ElevenLabs-shaped upstream answering ``GET /v1/voices`` with the documented listing."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    answer = orjson.loads((DOCUMENTED / "elevenlabs" / "voices.json").read_bytes())["response"]["json"]
    seen: list[dict[str, str]] = []

    async def voices(request: web.Request) -> web.Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return web.json_response(answer)

    with threaded_app(lambda app: app.router.add_get("/v1/voices", voices)) as url:
        yield url, seen


def _config(url: str) -> dict[str, Any]:
    return {"providers": {"eleven": {"type": "elevenlabs", "base_url": url, "credential": f"env:{KEY_ENV}"}}}


async def test_client_lists_declared_and_provider_voices(
    tmp_path: Path, listing: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = listing
    with run_gateway(tmp_path, _config(url)) as gateway:
        async with Client(gateway.base_url, gateway.admin_key) as client:
            declared = await client.list_voices("sandbox")
            listed = await client.list_voices("eleven")
            with pytest.raises(RequestFailed) as missing:
                await client.list_voices("no-such-provider")
    assert VoiceInfo("alloy", "Alloy", []) in declared and len(declared) == 13
    assert [voice.id for voice in listed] == ["21m00Tcm4TlvDq8ikWAM", "JBFqnCBsd6RMkjVDRZzb"]
    assert listed[0] == VoiceInfo("21m00Tcm4TlvDq8ikWAM", "Rachel", ["en"], "female", "calm")
    assert seen[0]["xi-api-key"] == SECRET
    assert missing.value.status == 404 and missing.value.error.code == "provider_not_found"


async def test_connector_lists_voices_in_process(tmp_path: Path, listing: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = listing
    settings = load_settings(data_dir=tmp_path / "data", env="test", record_flush_interval=0.05)
    config = _config(url)
    config["providers"]["plain"] = {"type": "http", "base_url": url}
    async with Connector(settings, parse_config(config)) as connector:
        listed = await connector.list_voices("eleven")
        assert [voice.name for voice in listed] == ["Rachel", "George"] and len(seen) == 1
        assert (await connector.list_voices("sandbox"))[0].id == "alloy"
        with pytest.raises(RequestFailed) as unsupported:
            await connector.list_voices("plain")
        assert unsupported.value.error.code == "capability_unsupported"
        # The listing was a call like any other: recorded as a generic request to the provider.
        services = connector.services
        for _ in range(100):
            rows = await services.usage_queries.list_usage(services.default_project_id)
            if rows:
                break
            await asyncio.sleep(0.05)
    assert [(row.provider, row.capability, row.status) for row in rows] == [("eleven", "requests", "success")]
