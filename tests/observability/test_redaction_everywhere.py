"""One planted canary credential, every success and failure path, and every output searched for it.

Outputs: log lines, error bodies (OpenAI shape and envelope), the SDK's exception text, trace spans,
Prometheus metrics, health reports, usage roll-ups, audit rows and dead-letter entries.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.api.test_redaction import CANARY, _closed_port, leaky_upstream
from tests.gateway import run_gateway

from api_connector.observability.tracing import Tracing
from api_connector.sdk import Client, RequestFailed


async def test_canary_in_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_KEY", CANARY)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    outputs: list[str] = []
    async with leaky_upstream() as upstream:
        providers = {
            name: {
                "type": "openai_compatible",
                "base_url": f"{upstream}/{name}/v1",
                "credential": "env:CANARY_KEY",
                "health_check": {"interval": 0.1},
            }
            for name in ("ok", "echo", "unauthorized", "broken")
        }
        providers["down"] = {
            "type": "openai_compatible",
            "base_url": f"http://127.0.0.1:{_closed_port()}/v1",
            "credential": "env:CANARY_KEY",
            "health_check": {"interval": 0.1},
        }
        config = {"providers": providers, "resilience": {"retry": {"max_retries": 0}}}
        with run_gateway(tmp_path, config, allow_private_upstreams=True) as gateway:
            gateway.services.recorder.tracing = Tracing(provider)
            async with (
                httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http,
                Client(gateway.base_url, gateway.admin_key) as sdk,
            ):
                chat = {"messages": [{"role": "user", "content": "hello"}]}
                for name in ("ok", "echo", "unauthorized", "broken", "down"):
                    answer = await http.post("/v1/chat/completions", json={**chat, "model": f"{name}/gpt-4o-mini"})
                    outputs.append(answer.text)
                    result = await sdk.make_request("/x", provider=name)
                    outputs.append(repr(result))
                    try:
                        async for chunk in sdk.make_streaming_request("/x", provider=name):
                            outputs.append(chunk.decode("utf-8", "replace"))
                    except RequestFailed as failure:
                        outputs.append(str(failure) + repr(failure.error))
                await asyncio.sleep(0.5)  # several rounds of health probes, each answered with the canary
                for path in (
                    "/metrics",
                    "/admin/health",
                    "/admin/usage",
                    "/admin/audit",
                    "/admin/dlq",
                    "/admin/alerts",
                ):
                    outputs.append((await http.get(path)).text)
                outputs.append(repr(await sdk.check_connection_health()))
                outputs.append(orjson.dumps(await sdk.get_usage_stats()).decode())
                outputs.append(orjson.dumps(await sdk.get_metrics("1h")).decode())
                dlq = (await http.get("/admin/dlq")).json()["data"]
                for entry in dlq:
                    outputs.append((await http.get(f"/admin/dlq/{entry['id']}")).text)
            logs = gateway.logs.getvalue()
    for span in exporter.get_finished_spans():
        outputs.append(span.to_json())
    assert dlq, "a failure path should have reached the dead-letter queue"
    assert any("unhealthy" in o or '"is_healthy":false' in o for o in outputs)
    assert exporter.get_finished_spans()
    assert any("[REDACTED]" in o for o in outputs)  # the canary did come back, and was masked
    for text in outputs:
        assert CANARY not in text, text[:300]
    assert logs and CANARY not in logs
    assert gateway.admin_key not in logs
