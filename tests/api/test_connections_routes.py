"""``POST /admin/connections/refresh`` and ``/initialize``: per-provider status, scoping, strict, audit.

The configuration file has one provider whose upstream answers (a loopback OpenAI-compatible server
that checks its key) and one whose upstream is down (a closed port); projects add their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from tests.api.test_redaction import _closed_port
from tests.credentials.upstream import FakeProvider, fake_provider
from tests.gateway import RunningGateway, run_gateway

KEY = "sk-up-0123456789abcdef0123"
ALL_SCOPES = ["admin", "inference", "requests"]


class HasBaseUrl(Protocol):
    base_url: str


def file_config(up: HasBaseUrl) -> dict[str, Any]:
    down = f"http://127.0.0.1:{_closed_port()}/v1"
    return {
        "providers": {
            "up": {"type": "openai_compatible", "base_url": up.base_url, "credential": "env:APC_TEST_UP_KEY"},
            "down": {"type": "openai_compatible", "base_url": down, "credential": "env:APC_TEST_UP_KEY"},
        }
    }


@pytest.fixture
async def up() -> AsyncIterator[FakeProvider]:
    async with fake_provider({KEY: "up"}) as provider:
        yield provider


@pytest.fixture
def gateway(tmp_path: Path, up: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("APC_TEST_UP_KEY", KEY)
    with run_gateway(tmp_path, file_config(up), allow_private_upstreams=True) as running:
        yield running


def by_name(answer: httpx.Response) -> dict[str, dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return {row["provider"]: row for row in answer.json()["data"]}


async def project_with_key(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    org = (await http.post("/admin/organizations", json={"name": f"{name}-org"})).json()
    project = (await http.post("/admin/projects", json={"organization_id": org["id"], "name": name})).json()
    body = {"name": f"{name}-admin", "scopes": ALL_SCOPES, "project_id": project["id"]}
    key = (await http.post("/admin/keys", json=body)).json()
    return project["id"], key["key"]


async def add_provider(http: httpx.AsyncClient, key: str, name: str, base_url: str, secret: str) -> None:
    as_project = {"Authorization": f"Bearer {key}"}
    credential = {"name": f"{name}-key", "provider": "openai_compatible", "secret": secret, "verify": False}
    made = await http.post("/admin/credentials", json=credential, headers=as_project)
    assert made.status_code == 201, made.text
    config = {"type": "openai_compatible", "base_url": base_url, "credential": made.json()["id"]}
    added = await http.post("/admin/providers", json={"name": name, "config": config}, headers=as_project)
    assert added.status_code == 201, added.text


async def audit_actions(http: httpx.AsyncClient, action: str) -> list[dict[str, Any]]:
    """The audit rows of ``action``, once the batch writer has stored one (waited for, within 20 s)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        rows: list[dict[str, Any]] = (await http.get("/admin/audit", params={"scope": "all", "action": action})).json()[
            "data"
        ]
        if rows or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_global_admin_refreshes_every_provider_with_a_status_each(gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
        before = gateway.services.transport.opened("*:up")
        statuses = by_name(await http.post("/admin/connections/refresh"))
        assert {"up", "down", "sandbox"} <= set(statuses)
        assert statuses["up"]["status"] == "ok" and statuses["up"]["latency_ms"] is not None
        assert statuses["up"]["error_code"] is None and statuses["up"]["project_id"] is None
        assert statuses["down"]["status"] == "failed" and statuses["down"]["error_code"] == "connect_error"
        assert statuses["sandbox"]["status"] == "ok"
        assert gateway.services.transport.opened("*:up") is not before  # a new pool
        # The probe's verdict is the provider's health too.
        health = (await http.get("/admin/health/down")).json()
        assert health["consecutive_failures"] >= 1 and health["last_checked"] is not None

        one = by_name(await http.post("/admin/connections/refresh", params={"provider": "up"}))
        assert list(one) == ["up"]
        missing = await http.post("/admin/connections/refresh", params={"provider": "nope"})
        assert missing.status_code == 404

        strict = await http.post("/admin/connections/refresh", params={"strict": "true"})
        assert strict.status_code == 503
        error = strict.json()["error"]
        assert error["code"] == "connections_failed" and "down (connect_error)" in error["message"]
        bad_flag = await http.post("/admin/connections/refresh", params={"strict": "maybe"})
        assert bad_flag.status_code == 400

        rows = await audit_actions(http, "connections.refresh")
        assert rows and rows[0]["actor_key_id"] is not None
        assert any("down" in row["details"]["failed"] for row in rows)


async def test_a_project_admin_refreshes_only_its_own_providers(gateway: RunningGateway, up: FakeProvider) -> None:
    async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
        project_a, key_a = await project_with_key(http, "alpha")
        project_b, key_b = await project_with_key(http, "beta")
        await add_provider(http, key_a, "alpha-up", up.base_url, KEY)
        await add_provider(http, key_b, "beta-up", up.base_url, "sk-not-accepted-0123456789")

        as_a = {"Authorization": f"Bearer {key_a}"}
        mine = by_name(await http.post("/admin/connections/refresh", headers=as_a))
        assert set(mine) == {"alpha-up"}  # neither the file's instances nor another project's
        assert mine["alpha-up"]["status"] == "ok" and mine["alpha-up"]["project_id"] == project_a

        # Naming another project, or everything, is refused rather than quietly narrowed.
        for params in ({"project": project_b}, {"scope": "all"}, {"scope": "global"}):
            refused = await http.post("/admin/connections/refresh", headers=as_a, params=params)
            assert refused.status_code == 403, params
        header = {**as_a, "x-project-id": project_b}
        assert set(by_name(await http.post("/admin/connections/refresh", headers=header))) == {"alpha-up"}

        # B's key was refused by its upstream: a failure with the provider's code, the key never shown.
        theirs = by_name(await http.post("/admin/connections/refresh", headers={"Authorization": f"Bearer {key_b}"}))
        assert theirs["beta-up"]["status"] == "failed" and theirs["beta-up"]["error_code"] == "auth_failed"
        assert "sk-not-accepted" not in str(theirs)

        # A global admin: one project by name, only the file's (scope=global), or everything.
        named = by_name(await http.post("/admin/connections/refresh", params={"project": project_b}))
        assert set(named) == {"beta-up"}
        operator = by_name(await http.post("/admin/connections/refresh", params={"scope": "global"}))
        assert {"up", "down"} <= set(operator) and not {"alpha-up", "beta-up"} & set(operator)
        everything = by_name(await http.post("/admin/connections/refresh"))
        assert {"up", "down", "alpha-up", "beta-up"} <= set(everything)


async def test_initialize_adds_or_updates_a_projects_providers_then_probes_them(
    gateway: RunningGateway, up: FakeProvider
) -> None:
    async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
        _, key = await project_with_key(http, "gamma")
        as_project = {"Authorization": f"Bearer {key}"}
        credential = {"name": "gamma-key", "provider": "openai_compatible", "secret": KEY, "verify": False}
        cred_id = (await http.post("/admin/credentials", json=credential, headers=as_project)).json()["id"]
        closed = f"http://127.0.0.1:{_closed_port()}/v1"
        providers = {
            "gamma-up": {"type": "openai_compatible", "base_url": up.base_url, "credential": cred_id},
            "gamma-down": {"type": "openai_compatible", "base_url": closed, "credential": cred_id},
        }
        statuses = by_name(
            await http.post("/admin/connections/initialize", json={"providers": providers}, headers=as_project)
        )
        assert statuses["gamma-up"]["status"] == "ok" and statuses["gamma-down"]["status"] == "failed"

        # Updating one (the down one now points at the live upstream) replaces its configuration.
        providers["gamma-down"]["base_url"] = up.base_url
        strict = await http.post(
            "/admin/connections/initialize",
            json={"providers": providers},
            headers=as_project,
            params={"strict": "true"},
        )
        assert {row["status"] for row in by_name(strict).values()} == {"ok"}

        # All or nothing: one invalid instance and none is added.
        bad = {"gamma-new": {"type": "openai_compatible", "base_url": up.base_url}, "gamma-bad": {"type": "nope"}}
        refused = await http.post("/admin/connections/initialize", json={"providers": bad}, headers=as_project)
        assert refused.status_code == 400
        listed = (await http.get("/admin/providers", headers=as_project)).json()["data"]
        assert {p["name"] for p in listed if p["source"] == "project"} == {"gamma-up", "gamma-down"}
        # The operator's secrets stay the operator's: a project cannot name an env: reference.
        env_ref = {"gamma-env": {"type": "openai_compatible", "base_url": up.base_url, "credential": "env:HOME"}}
        assert (
            await http.post("/admin/connections/initialize", json={"providers": env_ref}, headers=as_project)
        ).status_code == 400

        # No providers: open and probe the project's own.
        again = by_name(await http.post("/admin/connections/initialize", json={}, headers=as_project))
        assert set(again) == {"gamma-up", "gamma-down"}
        rows = await audit_actions(http, "connections.initialize")
        assert rows
