"""OpenTelemetry spans (off by default): one per request, one per upstream attempt, GenAI attributes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests.gateway import run_gateway

from api_connector.observability.tracing import Tracing
from api_connector.sandbox.engine import SandboxEngine
from api_connector.sandbox.server import serve_sandbox
from api_connector.transport.local import LocalResponse


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


class _Recording(SandboxEngine):
    """The sandbox, noting the ``traceparent`` of every call (and whether it was the failing instance's)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str | None]] = []

    async def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> LocalResponse:
        self.seen.append(("bad" if headers.get("x-sandbox-status") else "good", headers.get("traceparent")))
        return await super().handle(method, path, headers, body)


def _two_targets(url: str) -> dict[str, Any]:
    return {
        "providers": {
            "bad": {"type": "openai_compatible", "base_url": f"{url}/v1", "headers": {"x-sandbox-status": "503"}},
            "good": {"type": "openai_compatible", "base_url": f"{url}/v1"},
        },
        "routes": {"chat": {"targets": [{"provider": "bad", "model": "m"}, {"provider": "good", "model": "m"}]}},
        "resilience": {"retry": {"max_retries": 0}},
    }


CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


async def test_each_attempt_sends_its_own_span_as_traceparent_under_the_callers_trace(tmp_path: Path) -> None:
    provider, exporter = _provider()
    engine = _Recording()
    async with serve_sandbox() as (server, url):
        server.engine = engine
        with run_gateway(tmp_path, _two_targets(url), tracing_enabled=True) as gateway:
            gateway.services.recorder.tracing = Tracing(provider)
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
                body = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
                caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "tracestate": "vendor=x"}
                assert (await http.post("/v1/chat/completions", json=body, headers=caller)).status_code == 200
                assert (await http.post("/v1/chat/completions", json=body)).status_code == 200  # no caller trace
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(servers) == 2
    joined, fresh = sorted(servers, key=lambda s: s.start_time or 0)
    assert format(joined.context.trace_id, "032x") == CALLER_TRACE  # the caller's trace continues
    assert joined.parent is not None and format(joined.parent.span_id, "016x") == CALLER_SPAN
    assert fresh.parent is None and fresh.context.trace_id != joined.context.trace_id
    for request in (joined, fresh):
        attempts = sorted(
            (s for s in spans if s.parent is not None and s.parent.span_id == request.context.span_id),
            key=lambda s: s.start_time or 0,
        )
        assert [s.kind for s in attempts] == [SpanKind.CLIENT, SpanKind.CLIENT]
        assert attempts[0].status.status_code is StatusCode.ERROR
        assert dict(attempts[0].attributes or {})["http.response.status_code"] == 503
        # What each upstream call carried is exactly its own attempt span.
        for (which, sent), span in zip(engine.seen[:2], attempts, strict=True):
            assert which == ("bad" if span is attempts[0] else "good")
            ids = f"{request.context.trace_id:032x}-{span.context.span_id:016x}"
            assert sent == f"00-{ids}-{int(span.context.trace_flags):02x}"
        del engine.seen[:2]


async def test_no_traceparent_is_sent_when_tracing_is_off(tmp_path: Path) -> None:
    engine = _Recording()
    async with serve_sandbox() as (server, url):
        server.engine = engine
        with run_gateway(tmp_path, _two_targets(url)) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
                body = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
                caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
                assert (await http.post("/v1/chat/completions", json=body, headers=caller)).status_code == 200
    assert engine.seen == [("bad", None), ("good", None)]
