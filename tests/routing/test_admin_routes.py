"""Routes as data through the admin API: per project, validated like the file, stored, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from tests.gateway import RunningGateway, run_gateway

CONFIG = {
    "providers": {
        "primary": {"type": "sandbox"},
        "backup": {"type": "sandbox", "headers": {"x-sandbox-status": "500"}},
    },
    "routes": {"main": {"targets": [{"provider": "primary", "model": "gpt-4o-mini"}]}},
}


def admin(gateway: RunningGateway, method: str, path: str, project: str | None = None, **kw: Any) -> httpx.Response:
    headers = gateway.headers() | ({"x-project-id": project} if project else {})
    return httpx.request(method, gateway.base_url + path, headers=headers, timeout=30, **kw)


def chat(gateway: RunningGateway, model: str, project: str | None = None) -> httpx.Response:
    headers = gateway.headers() | ({"x-project-id": project} if project else {})
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(gateway.v1 + "/chat/completions", json=body, headers=headers, timeout=30)


def test_routes_are_listed_with_their_targets_features_and_prices(tmp_path: Path) -> None:
    with run_gateway(tmp_path, CONFIG) as gateway:
        routes = {r["name"]: r for r in admin(gateway, "GET", "/admin/routes").json()["data"]}
        target = routes["main"]["targets"][0]
        assert routes["main"]["source"] == "config" and routes["main"]["strategy"] == "priority"
        assert target["price"] == {"input_per_mtok": 0.15, "output_per_mtok": 0.6}  # from genai-prices
        assert target["features"]["context_window"] == 128_000
        assert admin(gateway, "GET", "/admin/routes/nope").status_code == 404


def test_project_route_overrides_then_falls_back(tmp_path: Path) -> None:
    with run_gateway(tmp_path, CONFIG) as gateway:
        route = {
            "strategy": "weighted",
            "targets": [{"provider": "backup", "model": "m", "weight": 1}, {"provider": "primary", "model": "m"}],
        }
        created = admin(gateway, "PUT", "/admin/routes/main", json=route)
        assert created.status_code == 201 and created.json()["source"] == "project"
        assert chat(gateway, "main").status_code == 200  # backup fails over to primary
        assert admin(gateway, "PUT", "/admin/routes/main", json=route).status_code == 200
        listed = {r["name"]: r for r in admin(gateway, "GET", "/admin/routes").json()["data"]}
        assert listed["main"]["strategy"] == "weighted"
        assert admin(gateway, "DELETE", "/admin/routes/main").status_code == 204
        listed = {r["name"]: r for r in admin(gateway, "GET", "/admin/routes").json()["data"]}
        assert listed["main"]["source"] == "config"
        assert admin(gateway, "DELETE", "/admin/routes/main").status_code == 404
        actions = [a["action"] for a in admin(gateway, "GET", "/admin/audit").json()["data"]]
        assert {"route.create", "route.update", "route.delete"} <= set(actions)


def test_route_bodies_are_validated(tmp_path: Path) -> None:
    with run_gateway(tmp_path, CONFIG) as gateway:
        bad = [
            {"targets": [{"provider": "ghost", "model": "m"}]},
            {"targets": [{"provider": "primary", "model": "m", "credential": "env:SOMEONE_ELSES_KEY"}]},
            {"targets": [{"provider": "primary", "model": "m", "credential": "sk-pasted-secret"}]},
            {"targets": []},
            {"strategy": "fastest", "targets": [{"provider": "primary", "model": "m"}]},
            {"targets": [{"provider": "primary", "model": "m", "colour": "red"}]},
        ]
        for body in bad:
            answer = admin(gateway, "PUT", "/admin/routes/r", json=body)
            assert answer.status_code == 400 and answer.json()["error"]["code"] == "validation_error", body
        assert "sk-pasted-secret" not in gateway.logs.getvalue()


def test_routes_belong_to_their_project_and_survive_a_restart(tmp_path: Path) -> None:
    route = {"targets": [{"provider": "primary", "model": "m"}]}
    with run_gateway(tmp_path, CONFIG) as gateway:
        org = admin(gateway, "POST", "/admin/organizations", json={"name": "other-org"}).json()
        other = admin(gateway, "POST", "/admin/projects", json={"organization_id": org["id"], "name": "other"}).json()
        assert admin(gateway, "PUT", "/admin/routes/private", project=other["id"], json=route).status_code == 201
        assert chat(gateway, "private", project=other["id"]).status_code == 200
        assert chat(gateway, "private").status_code == 404  # the default project has no such route
    with run_gateway(tmp_path, CONFIG) as gateway:
        assert chat(gateway, "private", project=other["id"]).status_code == 200
