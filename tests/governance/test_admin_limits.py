"""Limits written through the admin API: validated with stable codes, scoped to the caller's project,
stored (they survive a restart), audited, applied at once here and within a second on another replica."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from api_connector.api.openapi import openapi_document
from tests.gateway import RunningGateway, run_gateway
from tests.redis_space import REDIS_URL
from tests.waiting import wait_for

CHAT = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "hi"}]}


def call(
    gateway: RunningGateway, method: str, path: str, key: str | None = None, headers: Any = None, **kw: Any
) -> httpx.Response:
    headers = {**gateway.headers(key), **(headers or {})}
    return httpx.request(method, gateway.base_url + path, headers=headers, timeout=30, **kw)


def _project_admin(gateway: RunningGateway) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A second project with an admin key and an inference key; answers (admin, inference, project id)."""
    org = call(gateway, "POST", "/admin/organizations", json={"name": "o"}).json()
    project = call(gateway, "POST", "/admin/projects", json={"organization_id": org["id"], "name": "p"}).json()
    scopes = ["admin", "inference", "requests"]
    boss = call(gateway, "POST", "/admin/keys", json={"name": "boss", "scopes": scopes, "project_id": project["id"]})
    user = call(gateway, "POST", "/admin/keys", json={"name": "user", "project_id": project["id"]})
    return boss.json(), user.json(), project["id"]


def test_a_stored_limit_applies_at_once_survives_a_restart_and_is_audited(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        _, user, project = _project_admin(gateway)
        assert call(gateway, "POST", "/v1/chat/completions", user["key"], json=CHAT).status_code == 200
        created = call(
            gateway, "PUT", f"/admin/limits/keys/{user['id']}", json={"requests_per_minute": 1, "concurrent": 5}
        )
        assert created.status_code == 201, created.text
        assert created.json()["data"]["source"] == "api" and created.json()["data"]["project_id"] == project
        first = call(gateway, "POST", "/v1/chat/completions", user["key"], json=CHAT)
        assert first.status_code == 200 and first.headers["x-ratelimit-limit-requests"] == "1"
        refused = call(gateway, "POST", "/v1/chat/completions", user["key"], json=CHAT)
        assert refused.status_code == 429
        replaced = call(gateway, "PUT", f"/admin/limits/keys/{user['id']}", json={"requests_per_minute": 100})
        assert replaced.status_code == 200
        assert call(gateway, "POST", "/v1/chat/completions", user["key"], json=CHAT).status_code == 200
        wanted = {("limit.create", f"key:{user['id']}"), ("limit.update", f"key:{user['id']}")}

        def limit_actions() -> set[tuple[str, str]]:
            audit = call(gateway, "GET", "/admin/audit", headers={"x-project-id": project}).json()["data"]
            return {(a["action"], a["target_id"]) for a in audit if a["target_type"] == "limit"}

        # Other events of the project (key changes, security events) arrive too: wait for these two.
        wait_for(lambda: wanted <= limit_actions(), "both limit changes audited")
    with run_gateway(tmp_path) as gateway:  # the same database: the stored limit is back
        shown = call(gateway, "GET", f"/admin/limits/keys/{user['id']}").json()["data"]
        assert shown["requests_per_minute"] == 100 and shown["concurrent"] is None
        assert (
            call(gateway, "POST", "/v1/chat/completions", user["key"], json=CHAT).headers["x-ratelimit-limit-requests"]
            == "100"
        )
        assert call(gateway, "DELETE", f"/admin/limits/keys/{user['id']}").status_code == 204
        after = call(gateway, "POST", "/v1/chat/completions", user["key"], json=CHAT)
        assert after.status_code == 200 and "x-ratelimit-limit-requests" not in after.headers


def test_validation_answers_clear_400s_with_stable_codes(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        project = gateway.services.default_project_id
        path = f"/admin/limits/projects/{project}"
        for body, code in (
            ({}, "invalid_limit"),
            ({"requests_per_minute": 0}, "invalid_limit"),
            ({"requests_per_minute": "many"}, "invalid_limit"),
            ({"requests_per_second": 5}, "invalid_limit"),
        ):
            answer = call(gateway, "PUT", path, json=body)
            assert answer.status_code == 400 and answer.json()["error"]["code"] == code, (body, answer.text)
        assert call(gateway, "PUT", "/admin/limits/routes/x", json={"concurrent": 1}).status_code == 404
        assert call(gateway, "PUT", "/admin/limits/keys/key_nope", json={"concurrent": 1}).status_code == 404
        new = {"kind": "project", "subject_id": project, "tokens_per_minute": 1000}
        assert call(gateway, "POST", "/admin/limits", json=new).status_code == 201
        again = call(gateway, "POST", "/admin/limits", json=new)
        assert again.status_code == 409 and again.json()["error"]["code"] == "limit_exists"
        listed = call(gateway, "GET", "/admin/limits").json()["data"]
        assert listed["projects"][project]["tokens_per_minute"] == 1000


def test_a_project_admin_edits_only_its_own_and_never_above_the_operator(tmp_path: Path) -> None:
    config = {"limits": {"default_key": {"requests_per_minute": 50}}}
    with run_gateway(tmp_path, config) as gateway:
        boss, user, project = _project_admin(gateway)
        default = gateway.services.default_project_id
        mine = call(gateway, "PUT", f"/admin/limits/keys/{user['id']}", boss["key"], json={"requests_per_minute": 10})
        assert mine.status_code == 201, mine.text
        above = call(gateway, "PUT", f"/admin/limits/keys/{user['id']}", boss["key"], json={"requests_per_minute": 60})
        assert above.status_code == 400 and above.json()["error"]["code"] == "limit_above_ceiling"
        unset = call(gateway, "PUT", f"/admin/limits/keys/{user['id']}", boss["key"], json={"concurrent": 2})
        assert unset.status_code == 400 and unset.json()["error"]["param"] == "requests_per_minute"
        # Another project's subjects do not exist for this admin.
        other = call(gateway, "PUT", f"/admin/limits/projects/{default}", boss["key"], json={"concurrent": 1})
        assert other.status_code == 404
        keys = call(gateway, "GET", "/admin/keys").json()["data"]
        global_id = next(k["id"] for k in keys if k["project_id"] is None)
        assert (
            call(gateway, "PUT", f"/admin/limits/keys/{global_id}", boss["key"], json={"concurrent": 1}).status_code
            == 404
        )
        # A limit a global admin set is locked for the project admin.
        assert (
            call(gateway, "PUT", f"/admin/limits/projects/{project}", json={"requests_per_minute": 5}).status_code
            == 201
        )
        locked = call(gateway, "PUT", f"/admin/limits/projects/{project}", boss["key"], json={"requests_per_minute": 1})
        assert locked.status_code == 403 and locked.json()["error"]["code"] == "limit_locked"
        assert call(gateway, "DELETE", f"/admin/limits/projects/{project}", boss["key"]).status_code == 403
        seen = call(gateway, "GET", "/admin/limits", boss["key"]).json()["data"]
        assert set(seen["keys"]) == {user["id"]} and set(seen["projects"]) == {project}
        assert call(gateway, "DELETE", f"/admin/limits/keys/{user['id']}", boss["key"]).status_code == 204


def test_an_edit_reaches_another_replica_within_a_second(tmp_path: Path, redis_prefix: str) -> None:
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
    with run_gateway(tmp_path, **shared) as a, run_gateway(tmp_path, **shared) as b:
        project = a.services.default_project_id
        assert call(b, "POST", "/v1/chat/completions", json=CHAT).status_code == 200
        assert call(a, "PUT", f"/admin/limits/projects/{project}", json={"requests_per_hour": 7}).status_code == 201
        started = time.monotonic()
        while time.monotonic() - started < 2:
            answer = call(b, "POST", "/v1/chat/completions", json=CHAT)
            if answer.headers.get("x-ratelimit-limit-requests-hour") == "7":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("replica b did not apply the new limit within 2 s")
        print(f"applied on the other replica after {time.monotonic() - started:.2f} s")


def test_the_limit_operations_are_in_the_openapi_document() -> None:
    paths = openapi_document(None)["paths"]  # type: ignore[arg-type]
    assert set(paths["/admin/limits"]) == {"get", "post"}
    assert set(paths["/admin/limits/{kind}/{subject_id}"]) == {"get", "put", "delete"}
    put = paths["/admin/limits/{kind}/{subject_id}"]["put"]
    assert "concurrent" in put["requestBody"]["content"]["application/json"]["schema"]["properties"]
