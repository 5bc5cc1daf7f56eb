"""A caller's deadline that runs out before anything is sent is the caller's, not the provider's failure.

Any key with the requests scope can send ``timeout: 1e-9``: if such requests counted against the
provider's circuit breaker, a handful of them would open it for every caller (503 circuit_open).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.gateway import run_gateway


def test_impossible_deadlines_do_not_open_the_providers_circuit(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway, httpx.Client(base_url=gateway.base_url, headers=gateway.headers()) as http:
        call = {"provider": "sandbox", "endpoint": "/models", "method": "GET"}
        for _ in range(15):
            answer = http.post("/v1/requests", json={**call, "timeout": 1e-9})
            assert answer.status_code == 504 and answer.json()["error"]["code"] == "timeout"

        chat = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "hi"}]}
        assert http.post("/v1/requests", json=call).status_code == 200
        assert http.post("/v1/chat/completions", json=chat).status_code == 200
        breakers = http.get("/admin/routing/state").json()["breakers"]
        assert all(b["state"] == "closed" and b["window_failures"] == 0 for b in breakers.values()), breakers
        assert http.get("/admin/dlq").json()["total"] == 0  # nothing was sent: nothing to replay
