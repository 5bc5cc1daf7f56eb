"""OpenTelemetry spans (off by default): one per request, one per upstream attempt, GenAI attributes."""

from __future__ import annotations

from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests.gateway import run_gateway

from api_connector.observability.tracing import Tracing


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_spans_per_request_and_attempt(tmp_path: Path) -> None:
    provider, exporter = _provider()
    config = {
        "providers": {"down": {"type": "sandbox", "headers": {"x-sandbox-status": "503"}}},
        "routes": {
            "chat": {
                "targets": [
                    {"provider": "down", "model": "sandbox-chat"},
                    {"provider": "sandbox", "model": "sandbox-chat"},
                ]
            }
        },
        "resilience": {"retry": {"max_retries": 0}},
    }
    with run_gateway(tmp_path, config, tracing_enabled=True) as gateway:
        gateway.services.recorder.tracing = Tracing(provider)  # the test's exporter instead of the global one
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
            body = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    clients = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(server) == 1 and len(clients) == 2
    request = server[0]
    assert request.name == "chat sandbox-chat"
    attrs = dict(request.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.system"] == "sandbox"
    assert attrs["gen_ai.request.model"] == "sandbox-chat" and attrs["gen_ai.usage.input_tokens"] > 0
    assert attrs["api_connector.attempts"] == 2
    failed, served = sorted(clients, key=lambda s: s.start_time or 0)
    assert failed.parent is not None and failed.parent.span_id == request.context.span_id
    assert (
        failed.status.status_code is StatusCode.ERROR
        and dict(failed.attributes or {})["error.type"] == "upstream_error"
    )
    assert dict(served.attributes or {})["api_connector.provider"] == "sandbox"
    assert request.start_time is not None and request.end_time is not None and request.start_time <= request.end_time


async def test_tracing_is_off_by_default(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        assert gateway.services.recorder.tracing is None
