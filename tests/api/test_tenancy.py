"""A key of project A can never reach project B's providers, keys or data."""

from __future__ import annotations

import time

import httpx
from tests.gateway import RunningGateway


def admin(gateway: RunningGateway, method: str, path: str, key: str | None = None, **kw: object) -> httpx.Response:
    return httpx.request(method, gateway.base_url + path, headers=gateway.headers(key), timeout=30, **kw)  # type: ignore[arg-type]


def test_projects_are_isolated(gateway: RunningGateway) -> None:
    org = admin(gateway, "POST", "/admin/organizations", json={"name": "acme"}).json()
    project_b = admin(gateway, "POST", "/admin/projects", json={"organization_id": org["id"], "name": "b"}).json()
    key_a = admin(gateway, "POST", "/admin/keys", json={"name": "a", "scopes": ["admin", "inference", "requests"]})
    key_b = admin(
        gateway,
        "POST",
        "/admin/keys",
        json={"name": "b", "scopes": ["admin", "inference", "requests"], "project_id": project_b["id"]},
    )
    a, b = key_a.json(), key_b.json()
    assert a["project_id"] == gateway.services.default_project_id and b["project_id"] == project_b["id"]

    # B adds its own provider (the sandbox type under B's own name).
    created = admin(
        gateway, "POST", "/admin/providers", b["key"], json={"name": "b-private", "config": {"type": "sandbox"}}
    )
    assert created.status_code == 201, created.text
    chat = {"model": "b-private/sandbox-chat", "messages": [{"role": "user", "content": "from b"}]}
    assert admin(gateway, "POST", "/v1/chat/completions", b["key"], json=chat).status_code == 200

    # A sees none of it and cannot use it, by model name or by provider name.
    names = [p["name"] for p in admin(gateway, "GET", "/admin/providers", a["key"]).json()["data"]]
    assert "b-private" not in names and "sandbox" in names
    denied = admin(gateway, "POST", "/v1/chat/completions", a["key"], json=chat)
    assert denied.status_code == 404 and denied.json()["error"]["code"] == "model_not_found"
    denied = admin(gateway, "POST", "/v1/requests", a["key"], json={"provider": "b-private", "endpoint": "/models"})
    assert denied.status_code == 404 and denied.json()["error"]["code"] == "provider_not_found"
    ids = [m["id"] for m in admin(gateway, "GET", "/v1/models", a["key"]).json()["data"]]
    assert not any(i.startswith("b-private/") for i in ids)

    # Keys: A lists only its own, cannot revoke B's, cannot create keys in B, cannot list B's projects.
    listed = [k["id"] for k in admin(gateway, "GET", "/admin/keys", a["key"]).json()["data"]]
    assert a["id"] in listed and b["id"] not in listed
    assert admin(gateway, "DELETE", f"/admin/keys/{b['id']}", a["key"]).status_code == 404
    cross = admin(gateway, "POST", "/admin/keys", a["key"], json={"name": "x", "project_id": project_b["id"]})
    assert cross.status_code == 403
    projects = [p["id"] for p in admin(gateway, "GET", "/admin/projects", a["key"]).json()["data"]]
    assert projects == [a["project_id"]]
    assert admin(gateway, "POST", "/admin/organizations", a["key"], json={"name": "mine"}).status_code == 403
    # A project key cannot pick another project with the header either.
    sneaky = httpx.get(
        gateway.base_url + "/admin/providers", headers={**gateway.headers(a["key"]), "x-project-id": project_b["id"]}
    )
    assert "b-private" not in [p["name"] for p in sneaky.json()["data"]]

    # Usage: B's request is in B's usage, never in A's.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        usage_b = admin(gateway, "GET", "/admin/usage", b["key"]).json()["data"]
        if usage_b:
            break
        time.sleep(0.1)
    assert usage_b and all(r["project_id"] == project_b["id"] for r in usage_b)
    usage_a = admin(gateway, "GET", "/admin/usage", a["key"]).json()["data"]
    assert all(r["project_id"] == a["project_id"] for r in usage_a)

    # The global admin reaches B by naming it.
    seen = httpx.get(
        gateway.base_url + "/admin/providers", headers={**gateway.headers(), "x-project-id": project_b["id"]}
    ).json()["data"]
    assert "b-private" in [p["name"] for p in seen]


def test_revoked_key_stops_working(gateway: RunningGateway) -> None:
    key = admin(gateway, "POST", "/admin/keys", json={"name": "temp", "scopes": ["inference"]}).json()
    assert admin(gateway, "GET", "/v1/models", key["key"]).status_code == 200
    assert admin(gateway, "DELETE", f"/admin/keys/{key['id']}").status_code == 200
    gone = admin(gateway, "GET", "/v1/models", key["key"])
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "invalid_api_key"


def test_keys_are_shown_once_and_stored_as_hashes(gateway: RunningGateway) -> None:
    created = admin(gateway, "POST", "/admin/keys", json={"name": "once"}).json()
    listed = admin(gateway, "GET", "/admin/keys").text
    assert created["key"] not in listed and created["key"][:12] in listed  # the display prefix only
    for stored in gateway.services.settings.data_dir.glob("api-connector.db*"):  # the WAL file too
        assert created["key"].encode() not in stored.read_bytes()
