"""Responses calls run the one pipeline: the cache answers them, dead letters keep and replay them, usage
rows count them under their own capability."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from tests.gateway import RunningGateway, run_gateway


def post(gateway: RunningGateway, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(gateway.v1 + "/responses", json=body, headers={**gateway.headers(), **headers}, timeout=30)


def admin(gateway: RunningGateway, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, gateway.base_url + path, headers=gateway.headers(), timeout=30, **kwargs)


def test_the_cache_answers_a_repeated_request(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        body = {"model": "sandbox/sandbox-chat", "input": "cache me", "temperature": 0}
        first = post(gateway, body, **{"x-cache-ttl": "60"})
        second = post(gateway, body, **{"x-cache-ttl": "60"})
        assert first.status_code == second.status_code == 200
        assert second.headers.get("x-cache") == "hit" and second.json() == first.json()
        streamed = {**body, "stream": True}
        live = post(gateway, streamed, **{"x-cache-ttl": "60"})
        replayed = post(gateway, streamed, **{"x-cache-ttl": "60"})
        assert replayed.headers.get("x-cache") == "hit" and replayed.text == live.text
        assert live.text.startswith("event: response.created\ndata: ")


def test_a_call_failed_everywhere_is_kept_and_replayed(tmp_path: Path) -> None:
    config = {
        "providers": {"down": {"type": "sandbox", "headers": {"x-sandbox-status": "503"}}},
        "routes": {"flaky": {"targets": [{"provider": "down", "model": "sandbox-chat"}]}},
        "resilience": {"retry": {"max_retries": 0}},
    }
    with run_gateway(tmp_path, config) as gateway:
        failed = post(gateway, {"model": "flaky", "input": "try again later", "stream": True})
        assert failed.status_code == 502 and failed.json()["error"]["code"] == "upstream_error"
        request_id = failed.headers["x-request-id"]
        entry = _dead_letter(gateway, request_id)
        assert entry["kind"] == "responses" and entry["target"] == "flaky"
        route = {"targets": [{"provider": "sandbox", "model": "sandbox-chat"}]}
        assert admin(gateway, "PUT", "/admin/routes/flaky", json=route).status_code == 201
        served = admin(gateway, "POST", f"/admin/dlq/{entry['id']}/replay").json()
        assert served["outcome"] == "success" and served["data"]["object"] == "response"
        assert served["data"]["output"][0]["content"][0]["text"] == "sandbox echo: try again later"
        rows = admin(gateway, "GET", "/admin/usage").json()["data"]
        assert {row["capability"] for row in rows} == {"responses"}


def _dead_letter(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for entry in admin(gateway, "GET", "/admin/dlq").json()["data"]:
            if entry["request_id"] == request_id:
                return dict(entry)
        time.sleep(0.05)
    raise AssertionError(f"no dead letter for {request_id}")
