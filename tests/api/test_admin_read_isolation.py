"""No admin read shows one project's data to another project's administrator.

Project A gets one of everything an admin read can show (providers, keys, routes, limits, budgets,
credentials, alerts, dead letters, breaker state, usage, audit rows), each named with a marker. Then
every GET route of the service's own OpenAPI document is called as project B's admin key, with and
without the ways of naming another project, and no answer may carry the marker or any of A's ids. The
walk reads the document, so a route added later is covered without anyone listing it here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from tests.api.test_redaction import _closed_port
from tests.gateway import ADMIN_KEY, RunningGateway, run_gateway
from tests.governance.upstream import FakeUpstream, fake_upstream
from tests.waiting import wait_for

from api_connector.app import create_app
from api_connector.config import parse_config
from api_connector.settings import load_settings

MARKER = "qzv7marker"
ALL_SCOPES = ["admin", "inference", "requests"]


def call(gateway: RunningGateway, method: str, path: str, key: str = ADMIN_KEY, **kw: Any) -> httpx.Response:
    headers = {**gateway.headers(key), **kw.pop("headers", {})}
    return httpx.request(method, gateway.base_url + path, headers=headers, timeout=30, **kw)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body.get("data", body)


def _tenants(gateway: RunningGateway) -> dict[str, str]:
    """Projects A and B in organizations of their own, each with an admin key (only A's names are marked)."""
    ids: dict[str, str] = {}
    for tenant, prefix in (("a", MARKER), ("b", "other")):
        org = created(call(gateway, "POST", "/admin/organizations", json={"name": f"{prefix}-org"}))
        body = {"organization_id": org["id"], "name": f"{prefix}-project"}
        project = created(call(gateway, "POST", "/admin/projects", json=body))
        body = {"name": f"{prefix}-key", "scopes": ALL_SCOPES, "project_id": project["id"]}
        key = created(call(gateway, "POST", "/admin/keys", json=body))
        ids.update({f"org_{tenant}": org["id"], f"project_{tenant}": project["id"]})
        ids.update({f"key_{tenant}": key["key"], f"key_id_{tenant}": key["id"]})
    return ids


def _file_config(up: FakeUpstream, ids: dict[str, str] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "prices": {f"{MARKER}-model": {"input_per_mtok": 2.0, "output_per_mtok": 10.0}},  # 0.007 USD an answer
        "health": {"unhealthy_after": 1},
        "alerts": {
            "consecutive_failures": 1,
            "backoff": 0.05,
            "webhooks": [{"url": up.base_url.removesuffix("/v1") + "/hook", "allow_private": True}],
        },
    }
    if ids is not None:  # the operator's budgets and limits name A's project and key
        budget = {"usd": 1.0, "soft_ratio": 0.001}
        config["budgets"] = {"projects": {ids["project_a"]: budget}, "keys": {ids["key_id_a"]: budget}}
        config["limits"] = {
            "keys": {ids["key_id_a"]: {"requests_per_minute": 1000}},
            "projects": {ids["project_a"]: {"requests_per_minute": 1000}},
        }
        config["audit"] = {"projects": {ids["project_a"]: {"payloads": "sanitized"}}}  # A's bodies are kept
    return config


def _seed_project_a(gateway: RunningGateway, up: FakeUpstream, ids: dict[str, str]) -> None:
    """One of everything, as A's own administrator; the ids it makes are added to ``ids``."""
    key = ids["key_a"]
    serving = {"type": "openai_compatible", "base_url": up.base_url, "models": [f"{MARKER}-model"]}
    down = {
        "type": "openai_compatible",
        "base_url": f"http://127.0.0.1:{_closed_port()}/v1",
        "health_check": {"interval": 0.1},
    }
    for name, config in ((f"{MARKER}-up", serving), (f"{MARKER}-down", down)):
        created(call(gateway, "POST", "/admin/providers", key, json={"name": name, "config": config}))
    credential = {"name": f"{MARKER}-cred", "provider": "up", "secret": "sk-a-0123456789abcdef", "verify": False}
    ids["credential_a"] = created(call(gateway, "POST", "/admin/credentials", key, json=credential))["id"]
    # A route of A's own instance, and one of the file's instance with A's credential and a model of A's.
    routes = {
        f"{MARKER}-route": [{"provider": f"{MARKER}-up", "model": f"{MARKER}-model"}],
        f"{MARKER}-shared": [{"provider": "up", "model": f"{MARKER}-model", "credential": ids["credential_a"]}],
    }
    for name, targets in routes.items():
        created(call(gateway, "PUT", f"/admin/routes/{name}", key, json={"targets": targets}))
    limit = {"kind": "key", "subject_id": ids["key_id_a"], "requests_per_minute": 500}
    created(call(gateway, "POST", "/admin/limits", key, json=limit))

    def chat(model: str, **headers: str) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": f"{MARKER} says hello"}]}
        return call(gateway, "POST", "/v1/chat/completions", key, json=body, headers=headers)

    assert chat(f"{MARKER}-route", **{"x-cache-ttl": "60"}).status_code == 200
    kept = call(gateway, "POST", "/v1/responses", key, json={"model": f"{MARKER}-route", "input": f"{MARKER} keeps"})
    ids["response_a"] = created(kept)["id"]  # a stored response (RESPONSES_STORE is on here)
    assert chat(f"{MARKER}-shared").status_code == 200
    assert chat(f"{MARKER}-down/any-model").status_code >= 500  # a dead letter, and an open incident

    def a_reads(path: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = call(gateway, "GET", path, key).json()["data"]
        return rows

    wait_for(lambda: len(a_reads("/admin/usage")) >= 3, "A's usage records")
    wait_for(lambda: any(MARKER in str(row["target_id"]) for row in a_reads("/admin/audit")), "A's audit rows")
    wait_for(lambda: bool(a_reads("/admin/dlq")), "A's dead letter")
    wait_for(lambda: MARKER in str(a_reads("/admin/audit/requests")), "A's request audit rows, bodies kept")
    ids["dead_letter_a"] = a_reads("/admin/dlq")[0]["id"]
    kinds = {"provider.unhealthy", "budget.threshold"}
    wait_for(lambda: kinds <= {hook["type"] for hook in up.hooks}, "A's alerts")
    wait_for(lambda: any(MARKER in str(alert) for alert in a_reads("/admin/alerts")), "A's alerts listed")


# Values of A's for each path parameter a GET route may have; a new parameter must be given one here.
def _path_values(ids: dict[str, str]) -> dict[str, list[str]]:
    return {
        "key_id": [ids["key_id_a"]],
        "credential_id": [ids["credential_a"]],
        "entry_id": [ids["dead_letter_a"]],
        "name": [f"{MARKER}-route", f"{MARKER}-up", f"{MARKER}-down"],
        "kind": ["keys", "projects"],
        "subject_id": [ids["key_id_a"], ids["project_a"]],
        "response_id": [ids["response_a"]],
    }


def _paths(template: str, values: dict[str, list[str]]) -> Iterator[tuple[str, list[str]]]:
    """Every filling of a path template with A's values, and the values used."""
    names = re.findall(r"{(\w+)}", template)
    missing = [name for name in names if name not in values]
    assert not missing, f"{template}: give project A's value for {missing} in _path_values"
    for chosen in itertools.product(*(values[name] for name in names)):
        path = template
        for name, value in zip(names, chosen, strict=True):
            path = path.replace("{" + name + "}", value)
        yield path, list(chosen)


def _variants(ids: dict[str, str]) -> list[tuple[dict[str, str], dict[str, str]]]:
    """(query, headers): plain, and every way a caller might name another project or everything."""
    a = ids["project_a"]
    return [
        ({}, {}),
        ({"scope": "all"}, {}),
        ({"scope": "global"}, {}),
        ({"project": a}, {}),
        ({"project_id": a}, {}),
        ({}, {"x-project-id": a}),
        ({"organization_id": ids["org_a"]}, {}),
        ({"provider": f"{MARKER}-up"}, {}),
        ({"credential_id": ids["credential_a"], "action": "credential.create"}, {}),
    ]


def _walk_as_b(gateway: RunningGateway, ids: dict[str, str]) -> tuple[int, list[str]]:
    """Every GET of the document as B's admin key: (calls made, every problem found)."""
    markers = [MARKER] + [value for name, value in ids.items() if name.endswith("_a")]
    document = httpx.get(gateway.base_url + "/openapi.json", timeout=30).json()
    values = _path_values(ids)
    calls, problems = 0, []
    for template, operations in document["paths"].items():
        if "get" not in operations:
            continue
        for path, used in _paths(template, values):
            for query, headers in _variants(ids):
                answer = call(gateway, "GET", path, ids["key_b"], params=query, headers=headers)
                calls += 1
                where = f"GET {path} {query} {headers} -> {answer.status_code}: {answer.text[:300]}"
                # A's ids in the path: A's object must be neither shown nor reachable.
                if answer.status_code >= 500 or (used and answer.status_code not in (403, 404)):
                    problems.append(where)
                text = answer.text
                for sent in (*used, *query.values(), *headers.values()):
                    text = text.replace(sent, "")  # what B itself sent may be echoed in an error message
                leaked = [marker for marker in markers if marker in text]
                if leaked:
                    problems.append(f"shows project A's {leaked}: {where}")
    return calls, problems


def test_no_admin_read_shows_another_projects_data(tmp_path: Path) -> None:
    with fake_upstream() as up:
        with run_gateway(tmp_path, _file_config(up)) as gateway:
            ids = _tenants(gateway)
        # Started again: the operator's budgets and limits of the file now name A's project and key.
        with run_gateway(tmp_path, _file_config(up, ids), responses_store=True) as gateway:
            _seed_project_a(gateway, up, ids)
            # The data is there: A's own administrator and the global admin (scope=all) both see it.
            for path in ("/admin/budgets", "/admin/routing/state", "/admin/alerts"):
                for key, query in ((ids["key_a"], {}), (ADMIN_KEY, {"scope": "all"})):
                    text = call(gateway, "GET", path, key, params=query).text
                    assert MARKER in text or ids["key_id_a"] in text, (path, query, text[:300])
            calls, problems = _walk_as_b(gateway, ids)
    assert not problems, "\n".join(problems)
    assert calls > 200  # the document's every GET route, with each variant


def test_every_get_route_is_in_the_openapi_document(tmp_path: Path) -> None:
    """The walk above reads the document: a GET route missing from it would escape the walk."""
    settings = load_settings(data_dir=tmp_path / "data", env="test", api_connector_admin_key=ADMIN_KEY)
    app = create_app(settings, parse_config({}))
    routed = {
        route.resource.canonical
        for route in app.router.routes()
        if route.method == "GET" and route.resource is not None and route.resource.canonical != "/{tail}"
    }
    with run_gateway(tmp_path) as gateway:
        documented = httpx.get(gateway.base_url + "/openapi.json", timeout=30).json()["paths"]
    gets = {path for path, operations in documented.items() if "get" in operations}
    assert routed - gets == set(), "GET routes missing from the OpenAPI document"
    assert "/admin/budgets" in gets and "/admin/alerts" in gets
