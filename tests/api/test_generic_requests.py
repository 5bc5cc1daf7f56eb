"""The generic request API: envelope, injected credentials, refused caller credentials, no SSRF."""

from __future__ import annotations

import httpx
import pytest
from tests.gateway import RunningGateway


def call(gateway: RunningGateway, body: dict, path: str = "/v1/requests") -> httpx.Response:
    return httpx.post(gateway.base_url + path, json=body, headers=gateway.headers(), timeout=30)


def test_envelope_on_success(gateway: RunningGateway) -> None:
    answer = call(
        gateway,
        {
            "provider": "sandbox",
            "endpoint": "/echo/items?x=1",
            "method": "POST",
            "body": {"hello": "world"},
            "headers": {"X-Trace": "abc"},
        },
    )
    assert answer.status_code == 200
    envelope = answer.json()
    assert envelope["success"] is True
    assert envelope["data"]["body"] == {"hello": "world"}
    assert envelope["data"]["method"] == "POST"
    assert "x-trace" in envelope["data"]["header_names"]
    meta = envelope["metadata"]
    assert meta["provider"] == "sandbox" and meta["cached"] is False
    assert meta["request_id"] == answer.headers["x-request-id"] and meta["response_time_ms"] >= 0


def test_capability_picks_a_provider(gateway: RunningGateway) -> None:
    answer = call(gateway, {"capability": "chat", "endpoint": "/models", "method": "GET"})
    assert answer.json()["success"] is True
    assert answer.json()["data"]["object"] == "list"


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "Cookie"])
def test_caller_cannot_send_credentials(gateway: RunningGateway, header: str) -> None:
    answer = call(gateway, {"provider": "sandbox", "endpoint": "/echo", "headers": {header: "secret"}})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "validation_error"
    assert "injected by the service" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "headers", [{"x-a": "1\r\nx-b: 2"}, {"x-a": "1\nGET / HTTP/1.1"}, {"x-a\r\nx-b": "2"}, {"x a": "1"}, {"x:a": "1"}]
)
def test_header_names_and_values_that_would_split_the_request_are_refused(
    gateway: RunningGateway, headers: dict[str, str]
) -> None:
    answer = call(gateway, {"provider": "sandbox", "endpoint": "/echo", "headers": headers})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "validation_error"
    assert "malformed header" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "endpoint", ["http://169.254.169.254/latest", "//evil.example/x", "/a/../../etc", "relative/path", "/with space"]
)
def test_endpoint_must_be_a_path_below_the_base_url(gateway: RunningGateway, endpoint: str) -> None:
    answer = call(gateway, {"provider": "sandbox", "endpoint": endpoint})
    if endpoint.startswith("//"):
        # Joined below the base URL it stays on the provider's host: a path, answered by the sandbox.
        assert answer.json()["error"]["code"] == "not_found"
        return
    assert answer.status_code == 400 and answer.json()["error"]["details"]["param"] == "endpoint"


def test_upstream_failure_in_the_envelope(gateway: RunningGateway) -> None:
    answer = call(gateway, {"provider": "sandbox", "endpoint": "/nothing-here", "method": "GET"})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "not_found" and error["retryable"] is False and error["provider"] == "sandbox"
    assert error["details"]["upstream_status"] == 404


def test_retryable_failure_is_retried_then_reported(gateway: RunningGateway) -> None:
    answer = httpx.post(
        gateway.base_url + "/v1/requests",
        timeout=30,
        headers={**gateway.headers(), "x-sandbox-status": "503"},
        json={"provider": "sandbox", "endpoint": "/echo", "retries": 2},
    )
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "upstream_error" and answer.json()["error"]["retryable"] is True


def test_stream_endpoint_pipes_the_body(gateway: RunningGateway) -> None:
    body = {
        "provider": "sandbox",
        "endpoint": "/chat/completions",
        "body": {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b"}]},
    }
    with httpx.stream(
        "POST", gateway.base_url + "/v1/requests/stream", json=body, headers=gateway.headers(), timeout=30
    ) as answer:
        text = "".join(answer.iter_text())
    assert answer.status_code == 200
    assert text.strip().endswith("data: [DONE]") and '"content":"a"' in text.replace(" ", "")


def test_timeout_override(gateway: RunningGateway) -> None:
    answer = httpx.post(
        gateway.base_url + "/v1/requests",
        timeout=30,
        headers={**gateway.headers(), "x-sandbox-fault": "timeout"},
        json={"provider": "sandbox", "endpoint": "/echo", "timeout": 0.3, "retries": 0},
    )
    assert answer.status_code == 504 and answer.json()["error"]["code"] == "timeout"
