"""Routes fail over on provider trouble, never on the caller's own mistakes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.gateway import RunningGateway, run_gateway
from tests.routing.network import sandbox_server

CONFIG = {
    "providers": {
        "sick": {"type": "sandbox", "headers": {"x-sandbox-status": "503"}},
        "picky": {"type": "sandbox", "headers": {"x-sandbox-status": "400"}},
        "keyless": {"type": "openai", "credential": "env:API_CONNECTOR_TEST_UNSET_KEY"},
        "healthy": {"type": "sandbox"},
    },
    "routes": {
        "ha": {"targets": [{"provider": "sick", "model": "m"}, {"provider": "healthy", "model": "m"}]},
        "caller-fault": {"targets": [{"provider": "picky", "model": "m"}, {"provider": "healthy", "model": "m"}]},
        "no-key-first": {
            "targets": [{"provider": "keyless", "model": "gpt-4o-mini"}, {"provider": "healthy", "model": "m"}]
        },
        "all-down": {"targets": [{"provider": "sick", "model": "a"}, {"provider": "sick", "model": "b"}]},
    },
}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    with run_gateway(tmp_path, CONFIG) as running:
        yield running


def chat(gateway: RunningGateway, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "route me"}]}
    return httpx.post(gateway.v1 + "/chat/completions", json=body, headers=gateway.headers(), timeout=30)


def test_retryable_failure_moves_to_the_next_target(gateway: RunningGateway) -> None:
    answer = chat(gateway, "ha")
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "sandbox echo: route me"
    metrics = httpx.get(gateway.base_url + "/metrics").text
    assert 'api_connector_upstream_failures_total{code="upstream_error",provider="sick"}' in metrics


def test_caller_fault_does_not_fail_over(gateway: RunningGateway) -> None:
    answer = chat(gateway, "caller-fault")
    assert answer.status_code == 400 and answer.json()["error"]["provider"] == "picky"


def test_target_without_its_credential_is_passed_over(gateway: RunningGateway) -> None:
    assert chat(gateway, "no-key-first").status_code == 200


def test_every_target_failing_lists_each_attempt(gateway: RunningGateway) -> None:
    answer = chat(gateway, "all-down")
    error = answer.json()["error"]
    assert answer.status_code == 502 and error["code"] == "all_targets_failed"
    assert [a["provider"] for a in error["details"]["attempts"]] == ["sick"] * 4  # two tries on each target


# -- circuit breakers, limits and capabilities through the gateway -----------------------------------
BREAKER = {"min_calls": 3, "failure_rate": 0.5, "wait": 30, "half_open_probes": 1}


def breaker_config(upstream: str) -> dict[str, object]:
    down = {"type": "openai_compatible", "base_url": upstream + "/v1", "headers": {"x-sandbox-status": "503"}}
    return {
        "providers": {"down": down, "healthy": {"type": "sandbox"}},
        "routes": {
            "down-then-healthy": {
                "targets": [{"provider": "down", "model": "m"}, {"provider": "healthy", "model": "m"}]
            }
        },
        "resilience": {"breaker": BREAKER, "retry": {"max_retries": 0}},
    }


def test_open_breaker_skips_the_target_without_a_call(tmp_path: Path) -> None:
    with sandbox_server() as upstream, run_gateway(tmp_path, breaker_config(upstream.base_url)) as gw:
        codes = [chat(gw, "down/m").json()["error"]["code"] for _ in range(3)]
        assert codes == ["upstream_error"] * 3 and upstream.requests == 3
        refused = chat(gw, "down/m")
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "circuit_open"
        assert 28 <= int(refused.headers["retry-after"]) <= 30
        # The generic request API calls the provider itself (no model): a breaker of its own, same rules.
        generic = {"provider": "down", "endpoint": "/models", "method": "GET", "retries": 0}
        for _ in range(4):
            envelope = httpx.post(gw.v1 + "/requests", json=generic, headers=gw.headers(), timeout=30)
        assert envelope.status_code == 503 and upstream.requests == 6
        assert envelope.json()["error"]["code"] == "circuit_open" and envelope.json()["error"]["retryable"] is True
        # A route with the open target fails over to the next one at once.
        assert chat(gw, "down-then-healthy").status_code == 200
        assert upstream.requests == 6  # no call reached the open target
        state = httpx.get(gw.base_url + "/admin/routing/state", headers=gw.headers()).json()
        assert any(v["state"] == "open" for v in state["breakers"].values())


def test_target_at_its_in_flight_limit_is_passed_over(tmp_path: Path) -> None:
    config = {
        "providers": {
            "slow": {"type": "sandbox", "headers": {"x-sandbox-latency-ms": "400"}},
            "fast": {"type": "sandbox"},
        },
        "routes": {
            "capped": {
                "strategy": "priority",
                "targets": [
                    {"provider": "slow", "model": "m", "limits": {"max_in_flight": 1}},
                    {"provider": "fast", "model": "m"},
                ],
            }
        },
    }
    with run_gateway(tmp_path, config) as gw, ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: chat(gw, "capped"), range(4)))
        assert [a.status_code for a in answers] == [200] * 4
        metrics = httpx.get(gw.base_url + "/metrics").text
        served = {p: _count(metrics, p) for p in ("slow", "fast")}
        assert served["slow"] >= 1 and served["fast"] >= 1


def test_request_no_target_can_take_is_refused_before_any_call(tmp_path: Path) -> None:
    config = {
        "providers": {"plain": {"type": "sandbox"}},
        "routes": {"no-stream": {"targets": [{"provider": "plain", "model": "m", "features": {"streaming": False}}]}},
    }
    with run_gateway(tmp_path, config) as gw:
        body = {"model": "no-stream", "messages": [{"role": "user", "content": "x"}], "stream": True}
        answer = httpx.post(gw.v1 + "/chat/completions", json=body, headers=gw.headers(), timeout=30)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "capability_unsupported"
        assert "streaming" in answer.json()["error"]["message"]


def _count(metrics: str, provider: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("api_connector_requests_total{") and f'provider="{provider}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _stream(gw: RunningGateway, model: str, headers: dict[str, str] | None = None) -> list[str]:
    body = {"model": model, "messages": [{"role": "user", "content": "stream me"}], "stream": True}
    with httpx.stream(
        "POST", gw.v1 + "/chat/completions", json=body, headers={**gw.headers(), **(headers or {})}, timeout=15
    ) as answer:
        assert answer.status_code == 200
        return [line[6:] for line in answer.iter_lines() if line.startswith("data: ")]


def test_sandbox_stream_faults_fail_over_before_the_first_byte_and_end_cleanly_after(tmp_path: Path) -> None:
    config = {
        "providers": {
            "drops": {"type": "sandbox", "headers": {"x-sandbox-fault": "disconnect"}},
            "ok": {"type": "sandbox"},
        },
        "routes": {"streamy": {"targets": [{"provider": "drops", "model": "m"}, {"provider": "ok", "model": "m"}]}},
    }
    with run_gateway(tmp_path, config) as gw:
        events = _stream(gw, "streamy")
        assert events[-1] == "[DONE]" and all("error" not in e for e in events)
        cut = _stream(gw, "sandbox/sandbox-chat", {"x-sandbox-fault": "truncate"})
        assert cut[-1] == "[DONE]" and '"code":"protocol_error"' in cut[-2]
        assert all("error" not in e for e in cut[:-2])


def test_openapi_documents_the_routing_admin_api(gateway: RunningGateway) -> None:
    paths = httpx.get(gateway.base_url + "/openapi.json").json()["paths"]
    for path in (
        "/admin/routes",
        "/admin/routes/{name}",
        "/admin/routing/state",
        "/admin/dlq",
        "/admin/dlq/{entry_id}",
        "/admin/dlq/{entry_id}/replay",
    ):
        assert path in paths
    assert "put" in paths["/admin/routes/{name}"] and "requestBody" in paths["/admin/routes/{name}"]["put"]
