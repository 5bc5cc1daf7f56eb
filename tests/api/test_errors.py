"""Bad input gets a clear error with a stable code, in the format of the route it came to."""

from __future__ import annotations

import httpx
import pytest
from tests.gateway import RunningGateway, run_gateway

CHAT = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "hi"}]}


def post(gateway: RunningGateway, path: str, **kwargs: object) -> httpx.Response:
    headers = kwargs.pop("headers", gateway.headers())
    return httpx.post(gateway.base_url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_invalid_json(gateway: RunningGateway) -> None:
    answer = post(gateway, "/v1/chat/completions", content=b"{not json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_json"
    assert answer.headers["x-request-id"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "", "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "sandbox/x", "messages": []}, "messages"),
        ({"model": "sandbox/x", "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"model": "sandbox/x", "messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature"),
    ],
)
def test_missing_or_wrong_fields_name_the_field(gateway: RunningGateway, body: dict, param: str) -> None:
    answer = post(gateway, "/v1/chat/completions", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert error["param"] == param and param in error["message"]


def test_unknown_model_and_provider(gateway: RunningGateway) -> None:
    answer = post(gateway, "/v1/chat/completions", json={**CHAT, "model": "no-such-model"})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "model_not_found"
    answer = post(gateway, "/v1/requests", json={"provider": "ghost", "endpoint": "/echo"})
    assert answer.status_code == 404
    body = answer.json()
    assert body["success"] is False and body["error"]["code"] == "provider_not_found"
    assert body["metadata"]["request_id"] == answer.headers["x-request-id"]


def test_body_over_the_limit_is_413(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with run_gateway(tmp_path, max_body_bytes=4096) as gateway:
        big = {**CHAT, "messages": [{"role": "user", "content": "x" * 10_000}]}
        answer = post(gateway, "/v1/chat/completions", json=big)
        assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"
        answer = post(gateway, "/v1/requests", json={"provider": "sandbox", "endpoint": "/echo", "body": "y" * 9000})
        assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"


def test_missing_and_invalid_keys_are_401(gateway: RunningGateway) -> None:
    answer = post(gateway, "/v1/chat/completions", json=CHAT, headers={})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "missing_api_key"
    answer = post(gateway, "/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer ack_nope"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"
    assert "ack_nope" not in answer.text
    for path in ("/admin/keys", "/v1/models"):
        assert httpx.get(gateway.base_url + path).status_code == 401


def test_wrong_scope_is_403(gateway: RunningGateway) -> None:
    created = post(gateway, "/admin/keys", json={"name": "inference-only", "scopes": ["inference"]}).json()
    key = created["key"]
    assert post(gateway, "/v1/chat/completions", json=CHAT, headers=gateway.headers(key)).status_code == 200
    answer = post(
        gateway, "/v1/requests", json={"provider": "sandbox", "endpoint": "/echo"}, headers=gateway.headers(key)
    )
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "permission_denied"
    answer = httpx.get(gateway.base_url + "/admin/keys", headers=gateway.headers(key))
    assert answer.status_code == 403


def test_upstream_errors_keep_their_status_class_and_message(gateway: RunningGateway) -> None:
    for status, code in ((400, "validation_error"), (401, "auth_failed"), (503, "upstream_error")):
        answer = post(
            gateway, "/v1/chat/completions", json=CHAT, headers={**gateway.headers(), "x-sandbox-status": str(status)}
        )
        error = answer.json()["error"]
        assert answer.status_code == (status if status < 500 else 502)
        assert error["code"] == code and error["message"] == f"sandbox answered {status} as asked"
        assert error["provider"] == "sandbox"


def test_unknown_route_and_method(gateway: RunningGateway) -> None:
    answer = httpx.get(gateway.base_url + "/v2/nothing", headers=gateway.headers())
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "route_not_found"
    answer = httpx.delete(gateway.base_url + "/v1/chat/completions", headers=gateway.headers())
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "method_not_allowed"
    # A path with a parameter, and one under a known path: the catch-all route tells them apart too.
    answer = httpx.put(gateway.base_url + "/admin/dlq/some-id", headers=gateway.headers())
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "method_not_allowed"
    answer = httpx.post(gateway.base_url + "/v1/chat/completions/extra", headers=gateway.headers())
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "route_not_found"
    assert answer.headers["x-request-id"]


def test_missing_model_takes_the_configured_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with run_gateway(tmp_path, default_openai_model="sandbox/sandbox-fast") as gateway:
        answer = post(gateway, "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200 and answer.json()["model"] == "sandbox-fast"
