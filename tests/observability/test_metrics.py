"""``GET /metrics`` parsed with prometheus_client's own parser: the series exist and move as requests flow."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.gateway import run_gateway


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


async def test_metrics_move_as_requests_flow(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as http:
            before = _samples((await http.get("/metrics")).text)
            chat = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "hello there"}]}
            for _ in range(3):
                assert (await http.post("/v1/chat/completions", json=chat)).status_code == 200
            failing = {"provider": "sandbox", "endpoint": "/models", "method": "GET", "retries": 1}
            await http.post("/v1/requests", json=failing, headers={"x-sandbox-status": "503"})
            text = (await http.get("/metrics")).text
    after = _samples(text)
    ok = {"provider": "sandbox", "capability": "chat", "outcome": "success"}
    served = _value(after, "api_connector_requests_total", **ok) - _value(before, "api_connector_requests_total", **ok)
    assert served == 3
    assert _value(after, "api_connector_requests_total", outcome="upstream_error") == 1
    assert _value(after, "api_connector_tokens_total", provider="sandbox", kind="prompt") > 0
    assert _value(after, "api_connector_overhead_seconds_count", capability="chat") >= 3
    assert _value(after, "api_connector_upstream_seconds_count", provider="sandbox") >= 4
    assert _value(after, "api_connector_retries_total", provider="sandbox") == 1
    assert _value(after, "api_connector_upstream_failures_total", code="upstream_error") == 2
    assert ("api_connector_provider_health_score", (("provider", "sandbox"),)) in after
    assert _value(after, "api_connector_provider_healthy", provider="sandbox") == 1
    assert any(name == "api_connector_breaker_state" for name, _ in after)
    assert any(name == "api_connector_queue_depth" for name, _ in after)
    # Labels stay low-cardinality: no request ids, no keys, no free text.
    assert gateway.admin_key not in text and "request_id" not in text
