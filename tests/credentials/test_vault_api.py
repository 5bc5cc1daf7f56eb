"""The vault through the running service: admin API lifecycle, versions in use, audit, and no leaks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.credentials.conftest import ROOT_KEY
from tests.credentials.upstream import fake_provider
from tests.gateway import RunningGateway, run_gateway

KEY_V1 = "sk-vault-canary-version-one-7f3a9c2e5b1d"
KEY_V2 = "sk-vault-canary-version-two-8e4b0d3f6c2a"
BAD_KEY = "sk-vault-canary-rejected-9a5c1e4d7b3f"
CANARIES = (KEY_V1, KEY_V2, BAD_KEY)
CHAT = {"model": "acme/fake-model", "messages": [{"role": "user", "content": "hi"}]}


async def _audit(http: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    """Audit rows matching ``filters``, waiting for the batch writer to catch up."""
    deadline = time.monotonic() + 10
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = (await http.get("/admin/audit", params={**filters, "limit": "1000"})).json()["data"]
        if rows:
            await asyncio.sleep(0.3)  # anything else of the same request lands together
            return (await http.get("/admin/audit", params={**filters, "limit": "1000"})).json()["data"]
        await asyncio.sleep(0.05)
    return rows


async def _provider_with(http: httpx.AsyncClient, base_url: str, credential: str | None) -> None:
    await http.delete("/admin/providers/acme")
    config: dict[str, Any] = {"type": "openai_compatible", "base_url": base_url, "models": ["fake-model"]}
    if credential:
        config["credential"] = credential
    created = await http.post("/admin/providers", json={"name": "acme", "config": config})
    assert created.status_code == 201, created.text


async def test_lifecycle_versions_audit_and_no_leak(tmp_path: Path) -> None:
    bodies: list[str] = []
    async with fake_provider({KEY_V1: "v1", KEY_V2: "v2"}) as upstream:
        with run_gateway(tmp_path, integration_crypto_key=ROOT_KEY) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
                await _provider_with(http, upstream.base_url, None)
                await _lifecycle(http, upstream.served, bodies)
                audit = await _audit(http)
                bodies.append((await http.get("/metrics")).text)
            raw_rows = gateway.call(_dump_vault_rows(gateway))
        logs = gateway.logs.getvalue()
    for canary in CANARIES:
        assert all(canary not in body for body in bodies), canary
        assert canary not in logs and canary not in orjson.dumps(audit).decode() and canary not in raw_rows
    actions = {row["action"] for row in audit}
    assert {"credential.create", "credential.verify", "credential.use", "credential.rotate"} <= actions
    assert {"credential.disable", "credential.enable", "credential.delete"} <= actions


async def _dump_vault_rows(gateway: RunningGateway) -> str:
    from sqlalchemy import text

    async with gateway.services.database.engine.connect() as connection:
        rows = []
        for table in ("credentials", "credential_versions", "master_keys", "audit_events"):
            rows += [repr(tuple(r)) for r in (await connection.execute(text(f"SELECT * FROM {table}"))).all()]
    return "\n".join(rows)


async def _lifecycle(http: httpx.AsyncClient, served: list[str], bodies: list[str]) -> None:
    # Rejected by the provider: refused, with the provider's reason, and the key it quoted masked.
    rejected = await http.post("/admin/credentials", json={"name": "acme-key", "provider": "acme", "secret": BAD_KEY})
    bodies.append(rejected.text)
    assert rejected.status_code == 422 and rejected.json()["error"]["code"] == "credential_rejected"
    assert "Incorrect API key provided: [REDACTED]" in rejected.json()["error"]["message"]
    assert (await http.get("/admin/credentials")).json()["data"] == []

    # verify=false is allowed, and recorded as such.
    skipped = await http.post(
        "/admin/credentials", json={"name": "unchecked", "provider": "acme", "secret": BAD_KEY, "verify": False}
    )
    bodies.append(skipped.text)
    assert skipped.status_code == 201 and skipped.json()["verification"] == "unverified: skipped"

    created = await http.post(
        "/admin/credentials",
        json={"name": "acme-key", "provider": "acme", "secret": KEY_V1, "overlap_seconds": 120},
    )
    bodies.append(created.text)
    assert created.status_code == 201, created.text
    cred = created.json()
    assert cred["verification"] == "valid" and cred["masked"] == "…" + KEY_V1[-4:] and cred["current_version"] == 1
    cred_id = cred["id"]

    listed = await http.get("/admin/credentials")
    bodies.append(listed.text)
    assert {c["masked"] for c in listed.json()["data"]} == {"…" + KEY_V1[-4:], "…" + BAD_KEY[-4:]}

    # Requests through a provider instance that references it use version 1...
    provider = (await http.get("/admin/providers")).json()["data"]
    base_url = next(p["base_url"] for p in provider if p["name"] == "acme")
    await _provider_with(http, base_url, cred_id)
    answer = await http.post("/v1/chat/completions", json=CHAT)
    bodies.append(answer.text)
    assert answer.json()["choices"][0]["message"]["content"] == "served by v1"

    # ...and after a rotation, the new version at once; the old one stays valid for the overlap.
    rotated = await http.post(f"/admin/credentials/{cred_id}/rotate", json={"secret": KEY_V2})
    bodies.append(rotated.text)
    assert rotated.status_code == 200 and rotated.json()["current_version"] == 2
    statuses = [(v["version"], v["status"], v["valid_until"] is not None) for v in rotated.json()["versions"]]
    assert statuses == [(2, "current", False), (1, "valid", True)]
    answer = await http.post("/v1/chat/completions", json=CHAT)
    assert answer.json()["choices"][0]["message"]["content"] == "served by v2"

    verified = await http.post(f"/admin/credentials/{cred_id}/verify")
    bodies.append(verified.text)
    assert verified.json()["verification"] == {"status": "valid", "detail": None}
    shown = await http.get(f"/admin/credentials/{cred_id}")
    bodies.append(shown.text)
    assert shown.json()["versions"][0]["verified_at"] is not None

    # The audit says which version served which request.
    uses = await _audit(http, action="credential.use", credential_id=cred_id)
    assert sorted(row["details"]["version"] for row in uses) == [1, 2]
    assert all(row["request_id"] and row["actor_key_id"] for row in uses)
    since = uses[0]["created_at"]
    assert all(row["created_at"] >= since for row in (await _audit(http, credential_id=cred_id, since=since)))

    disabled = await http.post(f"/admin/credentials/{cred_id}/disable")
    bodies.append(disabled.text)
    assert disabled.json()["state"] == "disabled"
    refused = await http.post("/v1/chat/completions", json=CHAT)
    bodies.append(refused.text)
    assert refused.status_code == 500 and refused.json()["error"]["code"] == "credential_unavailable"
    assert "is disabled" in refused.json()["error"]["message"]
    assert (await http.post(f"/admin/credentials/{cred_id}/enable")).json()["state"] == "active"
    assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200

    assert (await http.delete(f"/admin/credentials/{cred_id}")).status_code == 204
    assert (await http.get(f"/admin/credentials/{cred_id}")).status_code == 404
    gone = await http.post("/v1/chat/completions", json=CHAT)
    bodies.append(gone.text)
    assert gone.status_code == 500 and "not found" in gone.json()["error"]["message"]
    assert served.count("v1") >= 2 and "v2" in served  # probes and requests reached it with the right keys


async def test_projects_cannot_see_or_use_each_others_credentials(tmp_path: Path) -> None:
    async with fake_provider({KEY_V1: "a"}) as upstream:
        with run_gateway(tmp_path, integration_crypto_key=ROOT_KEY) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
                org = (await http.post("/admin/organizations", json={"name": "acme"})).json()
                project_b = (
                    await http.post("/admin/projects", json={"organization_id": org["id"], "name": "b"})
                ).json()
                key_b = (
                    await http.post(
                        "/admin/keys",
                        json={"name": "b", "scopes": ["admin", "inference"], "project_id": project_b["id"]},
                    )
                ).json()["key"]
                await _provider_with(http, upstream.base_url, None)
                created = await http.post(
                    "/admin/credentials", json={"name": "a-key", "provider": "acme", "secret": KEY_V1}
                )
                cred_a = created.json()["id"]
                as_b = {"Authorization": f"Bearer {key_b}"}
                assert (await http.get("/admin/credentials", headers=as_b)).json()["data"] == []
                for method, path in (
                    ("GET", f"/admin/credentials/{cred_a}"),
                    ("POST", f"/admin/credentials/{cred_a}/verify"),
                    ("POST", f"/admin/credentials/{cred_a}/disable"),
                    ("DELETE", f"/admin/credentials/{cred_a}"),
                ):
                    answer = await http.request(method, path, headers=as_b)
                    assert answer.status_code == 404, (path, answer.text)
                rotate = await http.post(
                    f"/admin/credentials/{cred_a}/rotate", headers=as_b, json={"secret": "sk-x" * 4}
                )
                assert rotate.status_code == 404
                # B cannot point a provider of its own at A's credential...
                stolen = await http.post(
                    "/admin/providers",
                    headers=as_b,
                    json={
                        "name": "thief",
                        "config": {"type": "openai_compatible", "base_url": upstream.base_url, "credential": cred_a},
                    },
                )
                assert stolen.status_code == 400 and stolen.json()["error"]["param"] == "config.credential"
                # ...and were one stored anyway, the resolver refuses it when used.
                config = {"type": "openai_compatible", "base_url": upstream.base_url, "credential": cred_a}
                gateway.call(_store_provider(gateway, project_b["id"], config))
                chat = {"model": "thief/fake-model", "messages": [{"role": "user", "content": "x"}]}
                refused = await http.post("/v1/chat/completions", headers=as_b, json=chat)
                assert refused.status_code == 500 and f"credential {cred_a} not found" in refused.text
                assert upstream.served == ["a"]  # only A's own verification probe ever reached it
                # Only a global admin may store a reference to an operator secret.
                reference = await http.post(
                    "/admin/credentials",
                    headers=as_b,
                    json={"name": "r", "provider": "acme", "reference": "env:HOME", "verify": False},
                )
                assert reference.status_code == 403


async def _store_provider(gateway: RunningGateway, project_id: str, config: dict[str, Any]) -> None:
    """Straight into storage, past the admin API's check, as a bug or a tampered row might."""
    from api_connector.api.services import install_project_providers
    from api_connector.config import ProviderConfig

    await gateway.services.providers.create(project_id, "thief", config["type"], config)
    stored = await gateway.services.providers.list(project_id)
    install_project_providers(
        gateway.services, project_id, [(p.name, ProviderConfig.model_validate(p.config)) for p in stored]
    )
