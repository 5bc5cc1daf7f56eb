"""The OpenAPI document against the app and against real answers (the fuzz run's deterministic companion).

Every route the app serves is documented and every documented operation is served; answers of
known shapes (an envelope error, an upsert's 201 and 200, a 204, lists with items) have a status the
document declares for the operation and match the schema it declares for that status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from tests.gateway import run_gateway

from api_connector.api.openapi import openapi_document
from api_connector.app import create_app
from api_connector.config import parse_config
from api_connector.settings import load_settings

_CHAT = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "hello"}]}


def test_every_route_is_documented_and_every_operation_is_served(tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path, env="test"), parse_config({}))
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method not in ("HEAD", "*")
    }
    document = openapi_document(app)
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == served


# (method, path as documented, path called, JSON body, expected status)
_CALLS: list[tuple[str, str, str, Any, int]] = [
    ("post", "/v1/chat/completions", "/v1/chat/completions", _CHAT, 200),
    ("post", "/v1/chat/completions", "/v1/chat/completions", {"messages": []}, 400),
    ("post", "/v1/requests", "/v1/requests", {"provider": "sandbox", "endpoint": "/models", "method": "GET"}, 200),
    ("post", "/v1/requests", "/v1/requests", {"endpoint": "/models"}, 400),  # neither provider nor capability
    ("post", "/v1/requests", "/v1/requests", None, 400),  # no body at all
    ("post", "/v1/requests/stream", "/v1/requests/stream", {"provider": "sandbox", "endpoint": "/nope"}, 404),
    ("post", "/v1/requests/stream", "/v1/requests/stream", {"provider": "sandbox", "endpoint": "/models"}, 200),
    ("put", "/admin/routes/{name}", "/admin/routes/doc", {"targets": [{"provider": "sandbox", "model": "m"}]}, 201),
    ("put", "/admin/routes/{name}", "/admin/routes/doc", {"targets": [{"provider": "sandbox", "model": "n"}]}, 200),
    ("get", "/admin/routes", "/admin/routes", None, 200),
    ("delete", "/admin/routes/{name}", "/admin/routes/doc", None, 204),
    (
        "post",
        "/admin/credentials",
        "/admin/credentials",
        {"name": "c", "provider": "sandbox", "secret": "sk-123456"},
        201,
    ),
    ("post", "/admin/credentials", "/admin/credentials", {"name": "d", "provider": "sandbox"}, 400),
    ("get", "/admin/credentials", "/admin/credentials", None, 200),
    ("get", "/admin/usage", "/admin/usage", None, 200),
    ("get", "/admin/usage/summary", "/admin/usage/summary", None, 200),
    ("get", "/admin/audit", "/admin/audit", None, 200),
    ("get", "/admin/dlq", "/admin/dlq", None, 200),
    ("get", "/admin/keys", "/admin/keys", None, 200),
    ("get", "/admin/health", "/admin/health", None, 200),
    ("get", "/admin/routing/state", "/admin/routing/state", None, 200),
    ("get", "/admin/metrics", "/admin/metrics?time_range=1h", None, 200),
    ("get", "/admin/limits", "/admin/limits", None, 200),
    ("post", "/admin/usage/estimate", "/admin/usage/estimate", _CHAT, 200),
    ("get", "/ready", "/ready", None, 200),
    ("get", "/metrics", "/metrics", None, 200),
]


@pytest.mark.parametrize(("method", "documented", "called", "body", "status"), _CALLS)
def test_real_answers_match_the_document(
    gateway_and_schema: tuple[Any, schemathesis.BaseSchema],
    method: str,
    documented: str,
    called: str,
    body: Any,
    status: int,
) -> None:
    gateway, schema = gateway_and_schema
    answer = httpx.request(method, gateway.base_url + called, json=body, headers=gateway.headers(), timeout=30)
    assert answer.status_code == status, answer.text
    operation = schema[documented][method.upper()]
    assert str(status) in operation.definition.raw["responses"] or "2XX" in operation.definition.raw["responses"]
    operation.validate_response(answer)


@pytest.fixture(scope="module")
def gateway_and_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with run_gateway(tmp_path_factory.mktemp("doc")) as gateway:
        # Something in every list: a usage record, a dead letter, an audit event.
        failing = {"provider": "sandbox", "endpoint": "/nope", "method": "GET", "retries": 0}
        assert httpx.post(f"{gateway.base_url}/v1/requests", json=failing, headers=gateway.headers()).status_code == 404
        schema = schemathesis.openapi.from_url(f"{gateway.base_url}/openapi.json")
        yield gateway, schema
