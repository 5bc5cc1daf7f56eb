"""Admission control: at the in-flight limit, low priority is refused first, with 503 + Retry-After."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.gateway import RunningGateway, run_gateway

from api_connector.errors import Overloaded, ValidationFailed
from api_connector.routing.admission import Admission, Priority, parse_priority

SLOW = {"providers": {"slow": {"type": "sandbox", "headers": {"x-sandbox-latency-ms": "1500"}}}}


def test_shares_per_priority() -> None:
    admission = Admission(10)
    for _ in range(7):
        admission.enter(Priority.LOW)
    with pytest.raises(Overloaded):
        admission.enter(Priority.LOW)
    admission.enter(Priority.NORMAL)
    admission.enter(Priority.NORMAL)
    with pytest.raises(Overloaded):
        admission.enter(Priority.NORMAL)
    admission.enter(Priority.HIGH)
    with pytest.raises(Overloaded) as refused:
        admission.enter(Priority.HIGH)
    assert refused.value.retry_after == 1.0 and admission.refused == {"low": 1, "normal": 1, "high": 1}
    admission.leave()
    admission.enter(Priority.HIGH)
    assert Admission(0).limit == 0  # off: nothing is ever refused
    with pytest.raises(ValidationFailed):
        parse_priority("urgent")


def _chat(gateway: RunningGateway, priority: str | None = None) -> httpx.Response:
    headers = gateway.headers() | ({"x-priority": priority} if priority else {})
    body = {"model": "slow/m", "messages": [{"role": "user", "content": "wait"}]}
    return httpx.post(gateway.v1 + "/chat/completions", json=body, headers=headers, timeout=30)


def _generic(gateway: RunningGateway, priority: str) -> httpx.Response:
    body: dict[str, Any] = {"provider": "slow", "endpoint": "/models", "method": "GET", "priority": priority}
    return httpx.post(gateway.v1 + "/requests", json=body, headers=gateway.headers(), timeout=30)


def _wait_in_flight(gateway: RunningGateway, count: int) -> None:
    routing = gateway.services.routing
    assert routing is not None
    deadline = time.monotonic() + 10
    while routing.admission.in_flight < count:
        assert time.monotonic() < deadline, routing.admission.in_flight
        time.sleep(0.01)


def test_low_priority_is_refused_first_with_a_clear_503(tmp_path: Path) -> None:
    with run_gateway(tmp_path, SLOW, max_in_flight=10) as gateway, ThreadPoolExecutor(12) as pool:
        busy: list[Future[httpx.Response]] = [pool.submit(_chat, gateway) for _ in range(7)]
        _wait_in_flight(gateway, 7)
        refused = _chat(gateway, "low")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "overloaded"
        envelope = _generic(gateway, "low")
        assert envelope.status_code == 503 and envelope.headers["retry-after"] == "1"
        assert envelope.json()["error"]["code"] == "overloaded" and envelope.json()["error"]["retryable"] is True
        busy += [pool.submit(_chat, gateway, "normal") for _ in range(2)]  # normal still gets in: 9 in flight
        _wait_in_flight(gateway, 9)
        assert _chat(gateway, "normal").status_code == 503
        assert _chat(gateway, "high").status_code == 200  # the last of the headroom is for what matters
        assert [f.result().status_code for f in busy] == [200] * 9
        routing = gateway.services.routing
        assert routing is not None and routing.admission.in_flight == 0
