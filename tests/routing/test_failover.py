"""Routes fail over on provider trouble, never on the caller's own mistakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.gateway import RunningGateway, run_gateway

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
