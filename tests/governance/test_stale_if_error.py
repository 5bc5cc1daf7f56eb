"""Graceful degradation: when every target fails, a cached answer past its TTL may stand in.

A route whose only target goes down after one cached answer: the next identical request gets the
stale answer (``x-cache: stale``, recorded as cached at cost 0, counted in /metrics), a different
one gets the error; with no stale window both get the error. Never for a request that is not safe
to repeat (a generic POST), whatever the window.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.gateway import RunningGateway, run_gateway
from tests.threaded_app import threaded_app

ANSWER = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "kept"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


class Switch:
    down = False


def _upstream(switch: Switch) -> Any:
    from aiohttp import web

    def setup(app: web.Application) -> None:
        async def answer(request: web.Request) -> web.Response:
            if switch.down:
                return web.json_response({"error": {"message": "down", "type": "server_error"}}, status=503)
            return web.json_response(ANSWER)

        app.router.add_route("*", "/{tail:.*}", answer)

    return setup


def _config(base: str, **route: Any) -> dict[str, Any]:
    return {
        "providers": {"up": {"type": "openai_compatible", "base_url": f"{base}/v1"}},
        "routes": {"r": {"targets": [{"provider": "up", "model": "m"}], **route}},
        "resilience": {"retry": {"max_retries": 0}},
    }


def _chat(gateway: RunningGateway, text: str, **headers: str) -> httpx.Response:
    body = {"model": "r", "messages": [{"role": "user", "content": text}]}
    return httpx.post(
        gateway.v1 + "/chat/completions", json=body, headers={**gateway.headers(), **headers}, timeout=10
    )


def _usage_rows(gateway: RunningGateway) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        rows = httpx.get(gateway.base_url + "/admin/usage", headers=gateway.headers(), timeout=10).json()["data"]
        if len(rows) >= 3 or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_stale_answer_stands_in_when_the_route_fails(tmp_path: Path) -> None:
    switch = Switch()
    with threaded_app(_upstream(switch)) as base, run_gateway(tmp_path, _config(base, stale_if_error=600)) as gateway:
        first = _chat(gateway, "hello", **{"x-cache-ttl": "1"})
        assert first.status_code == 200 and "x-cache" not in first.headers
        time.sleep(1.1)  # past the TTL: the entry is kept only to stand in for a failure
        switch.down = True
        stale = _chat(gateway, "hello", **{"x-cache-ttl": "1"})
        assert stale.status_code == 200, stale.text
        assert stale.headers["x-cache"] == "stale" and stale.json()["choices"][0]["message"]["content"] == "kept"
        other = _chat(gateway, "something else", **{"x-cache-ttl": "1"})
        assert other.status_code == 502 and other.json()["error"]["code"] == "upstream_error"

        rows = _usage_rows(gateway)
        stale_row = rows[1]  # newest first: the failure, the stale answer, the first call
        assert stale_row["status"] == "success" and stale_row["cached"] and stale_row["cost_usd"] in (0, 0.0)
        metrics = httpx.get(gateway.base_url + "/metrics", timeout=10).text
        assert 'api_connector_cache_stale_answers_total{provider="up"} 1.0' in metrics


def test_without_a_window_the_failure_stands(tmp_path: Path) -> None:
    switch = Switch()
    with threaded_app(_upstream(switch)) as base, run_gateway(tmp_path, _config(base)) as gateway:
        assert _chat(gateway, "hello", **{"x-cache-ttl": "1"}).status_code == 200
        time.sleep(1.1)
        switch.down = True
        assert _chat(gateway, "hello", **{"x-cache-ttl": "1"}).status_code == 502
        assert _chat(gateway, "something else", **{"x-cache-ttl": "1"}).status_code == 502


def test_a_request_can_ask_for_its_own_window(tmp_path: Path) -> None:
    switch = Switch()
    with threaded_app(_upstream(switch)) as base, run_gateway(tmp_path, _config(base)) as gateway:
        window = {"x-cache-ttl": "1", "x-cache-stale-if-error": "60"}
        assert _chat(gateway, "hello", **window).status_code == 200
        time.sleep(1.1)
        switch.down = True
        assert _chat(gateway, "hello", **window).headers.get("x-cache") == "stale"
        assert _chat(gateway, "hello", **{"x-cache-ttl": "1", "x-cache-stale-if-error": "0"}).status_code == 502


def test_never_for_a_request_that_is_not_safe_to_repeat(tmp_path: Path) -> None:
    switch = Switch()
    with threaded_app(_upstream(switch)) as base, run_gateway(tmp_path, _config(base)) as gateway:
        window = {**gateway.headers(), "x-cache-stale-if-error": "60"}
        with httpx.Client(headers=window, timeout=10) as client:
            for method, expected in (("GET", True), ("POST", False)):
                switch.down = False
                body = {"provider": "up", "method": method, "endpoint": "/things", "cache_ttl": 1}
                assert client.post(gateway.v1 + "/requests", json=body).status_code == 200
                time.sleep(1.1)
                switch.down = True
                answer = client.post(gateway.v1 + "/requests", json=body)
                if expected:
                    assert answer.status_code == 200 and answer.json()["metadata"]["stale"] is True
                else:
                    assert answer.status_code == 502 and answer.json()["success"] is False
