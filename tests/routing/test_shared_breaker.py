"""Two service processes (``api-connector serve``) sharing one Redis: failures seen by one open the
breaker for both, and the other then refuses without calling the provider."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis
import yaml
from tests.redis_space import REDIS_URL
from tests.routing.network import sandbox_server, service

KEY = "ack_shared_breaker_key_0123456789abcdefgh"


def chat(base: str) -> httpx.Response:
    body = {"model": "down/m", "messages": [{"role": "user", "content": "anyone there?"}]}
    return httpx.post(base + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)


def test_failures_seen_by_one_process_open_the_breaker_for_both(tmp_path: Path, redis_prefix: str) -> None:
    with sandbox_server() as upstream:
        config = {
            "providers": {
                "down": {
                    "type": "openai_compatible",
                    "base_url": upstream.base_url + "/v1",
                    "headers": {"x-sandbox-status": "503"},
                }
            },
            "resilience": {
                "breaker": {"min_calls": 4, "failure_rate": 0.5, "wait": 60},
                "retry": {"max_retries": 0},
            },
        }
        config_file = tmp_path / "gateway.yaml"
        config_file.write_text(yaml.safe_dump(config))
        common = {
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": redis_prefix,
            "API_CONNECTOR_CONFIG": str(config_file),
            "API_CONNECTOR_ADMIN_KEY": KEY,
        }
        with (
            service(tmp_path / "a", "replica-a", **common) as first,
            service(tmp_path / "b", "replica-b", **common) as second,
        ):
            assert [chat(first).json()["error"]["code"] for _ in range(4)] == ["upstream_error"] * 4
            assert upstream.requests == 4
            # The failures are counted in Redis off the request path: on a loaded machine a call may
            # still pass before the trip is merged back, never more than a few.
            deadline = time.monotonic() + 5
            while chat(first).json()["error"]["code"] != "circuit_open":
                assert time.monotonic() < deadline, "the breaker never opened"
                time.sleep(0.05)
            calls_at_trip = upstream.requests
            assert calls_at_trip <= 6
            # The other replica never called this provider; the trip reached it through Redis.
            deadline = time.monotonic() + 5
            while True:
                refused = chat(second)
                if refused.status_code == 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "circuit_open"
            assert 50 <= int(refused.headers["retry-after"]) <= 60
            assert upstream.requests == calls_at_trip  # not one more call reached the provider
            state = httpx.get(second + "/admin/routing/state", headers={"Authorization": f"Bearer {KEY}"}).json()
            assert [v["state"] for v in state["breakers"].values()] == ["open"]
        stored = redis.Redis.from_url(REDIS_URL).keys(f"{redis_prefix}breaker:*")
        assert len(stored) == 1  # one breaker, in this run's namespace
