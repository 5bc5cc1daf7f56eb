"""Operator events (master-key rotation and retirement) belong to no project: a global admin reads them
with ``scope=global`` (or among every event with ``scope=all``); a project's administrator cannot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from tests.credentials.test_vault_cli import _cli
from tests.gateway import ADMIN_KEY, RunningGateway, run_gateway
from tests.waiting import wait_for

from api_connector.credentials import rotation


def audit(gateway: RunningGateway, key: str = ADMIN_KEY, **params: str) -> httpx.Response:
    return httpx.get(gateway.base_url + "/admin/audit", params=params, headers=gateway.headers(key), timeout=30)


def rows(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_master_key_events_are_read_by_a_global_admin_only(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        headers = gateway.headers()
        org = httpx.post(gateway.base_url + "/admin/organizations", json={"name": "o"}, headers=headers).json()
        body = {"organization_id": org["id"], "name": "b"}
        project = httpx.post(gateway.base_url + "/admin/projects", json=body, headers=headers).json()
        body = {"name": "b-admin", "scopes": ["admin"], "project_id": project["id"]}
        project_admin = httpx.post(gateway.base_url + "/admin/keys", json=body, headers=headers).json()["key"]

        # The operator rotates the master key (twice: the first makes the ring's first key), then retires
        # the old one, with the command line.
        for _ in range(2):
            rotated = _cli(tmp_path, "rotate-master-key")
            assert rotated.returncode == 0, rotated.stderr
        assert gateway.services.vault is not None
        ring = gateway.call(rotation.status(gateway.services.vault.store))
        old = [entry.key.id for entry in ring if not entry.key.primary]
        assert len(old) == 1
        retired = _cli(tmp_path, "rotate-master-key", "--retire", old[0])
        assert retired.returncode == 0, retired.stderr

        operator = rows(audit(gateway, scope="global"))
        assert {"master_key.rotate", "master_key.retire"} <= {row["action"] for row in operator}
        assert all(row["project_id"] is None for row in operator)
        retire_rows = [row for row in operator if row["action"] == "master_key.retire"]
        assert retire_rows[0]["target_id"] == old[0] and retire_rows[0]["target_type"] == "master_key"
        everything = rows(audit(gateway, scope="all", action="master_key.rotate"))
        assert [row["action"] for row in everything] == ["master_key.rotate"] * 2
        # Naming no scope is one project's events, as before: the operator's are not among them.
        assert not any(row["action"].startswith("master_key.") for row in rows(audit(gateway)))

        # A project's administrator: refused the operator's events, and never given them in its own.
        for scope in ("global", "all"):
            refused = audit(gateway, project_admin, scope=scope)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
        # Each refusal is a security event of that project, written by the batch writer: wait for both
        # before comparing two reads, or one may land between them.
        denied = {"action": "security.permission_denied"}
        wait_for(lambda: len(rows(audit(gateway, project_admin, **denied))) == 2, "both refusals audited")
        own = rows(audit(gateway, project_admin))
        assert own and all(row["project_id"] == project["id"] for row in own)
        named = rows(audit(gateway, scope="project", project=project["id"]))
        assert [row["id"] for row in named] == [row["id"] for row in own]
        assert audit(gateway, scope="everything").status_code == 400
