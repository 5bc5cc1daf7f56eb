"""Server errors the OpenAPI fuzz run found with inputs the document allows, each answered 4xx now.

Each of these answered 500 (or 502 from the sandbox) before; a 5xx for a caller's bad input is a
lie of the service, whatever the document says.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from tests.gateway import run_gateway


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        run_gateway(tmp_path_factory.mktemp("findings")) as gateway,
        httpx.Client(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as client,
    ):
        yield client


def _refused(answer: httpx.Response, param: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "validation_error"
    assert param in (answer.json()["error"]["param"] or "")


def test_a_metrics_step_beyond_any_range(http: httpx.Client) -> None:
    _refused(http.get("/admin/metrics", params={"time_range": "1d", "step": "99999999999999999999d"}), "step")
    assert http.get("/admin/metrics", params={"time_range": "1d", "step": "1h"}).status_code == 200


@pytest.mark.parametrize("timeout", [-1, 0, 1e308, {"connect": 1e308}])
def test_provider_timeouts_out_of_range_and_the_project_keeps_working(http: httpx.Client, timeout: object) -> None:
    # Before, the instance was stored and then failed to load: that answer and every later change of
    # the project's providers were 500s.
    _refused(
        http.post("/admin/providers", json={"name": "odd", "config": {"type": "sandbox", "timeout": timeout}}), "config"
    )
    fine = http.post("/admin/providers", json={"name": "fine", "config": {"type": "sandbox", "timeout": 30}})
    assert fine.status_code == 201, fine.text
    assert http.delete("/admin/providers/fine").status_code == 204


@pytest.mark.parametrize("base_url", ["https://z[ok", "http://a:99999", "http://[zz]/v1", "http://a/\x1d"])
def test_a_base_url_that_does_not_parse(http: httpx.Client, base_url: str) -> None:
    answer = http.post("/admin/providers", json={"name": "bad-url", "config": {"type": "http", "base_url": base_url}})
    _refused(answer, "config")


@pytest.mark.parametrize(
    ("reference", "why"),
    [("", "pattern"), ("bogus", "pattern"), ("env:APC_TEST_NOT_SET_ANYWHERE", "not set"), ("vault:kv/x#y", "vault")],
)
def test_a_credential_reference_that_names_nothing(http: httpx.Client, reference: str, why: str) -> None:
    answer = http.post("/admin/credentials", json={"name": "ref", "provider": "sandbox", "reference": reference})
    _refused(answer, "reference")
    assert why in answer.json()["error"]["message"]


def test_the_sandbox_refuses_a_tool_choice_naming_no_function(http: httpx.Client) -> None:
    chat = {
        "model": "sandbox/sandbox-chat",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"properties": [1], "required": 3}}}],
    }
    answer = http.post("/v1/chat/completions", json={**chat, "tool_choice": {"type": "function"}})
    assert answer.status_code == 400 and "tool_choice" in answer.json()["error"]["message"], answer.text
    # A schema that is not a schema's shape is no reason to fail either.
    assert http.post("/v1/chat/completions", json={**chat, "tool_choice": "required"}).status_code == 200


@pytest.mark.parametrize("name", [" padded ", "\x85nel", "\u2028line"])
def test_a_route_name_with_surrounding_blanks(http: httpx.Client, name: str) -> None:
    # The store trims the name; the answer used to look the untrimmed one up (KeyError, 500).
    route = {"targets": [{"provider": "sandbox", "model": "sandbox-chat"}]}
    answer = http.put(f"/admin/routes/{quote(name)}", json=route)
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["name"] == name.strip()
    assert http.delete(f"/admin/routes/{quote(name.strip())}").status_code == 204
