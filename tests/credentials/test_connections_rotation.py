"""A connection refresh picks up secrets rotated elsewhere, before their cache entries would expire.

Three providers, every cache set to an hour: one names an OpenBao secret directly (``vault:``), one a
stored credential of the vault, and one a stored credential that itself refers to an OpenBao secret.
Each secret is then rotated behind this replica's back (written in OpenBao; a new version stored as
another replica would store it). Requests keep the cached secrets until ``POST
/admin/connections/refresh``, and use the new ones right after it.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from api_connector.credentials.records import Secret, Verification
from api_connector.credentials.verify import SKIPPED
from tests.credentials.conftest import ROOT_KEY
from tests.credentials.servers import BAO_TOKEN, ExternalServer, bao_put
from tests.credentials.upstream import fake_provider
from tests.gateway import run_gateway

OLD = {"direct": "sk-direct-old-0123456789ab", "stored": "sk-stored-old-0123456789ab", "ref": "sk-ref-old-0123456789ab"}
NEW = {"direct": "sk-direct-new-0123456789ab", "stored": "sk-stored-new-0123456789ab", "ref": "sk-ref-new-0123456789ab"}


async def served(http: httpx.AsyncClient, provider: str) -> str:
    body = {"model": f"{provider}/m", "messages": [{"role": "user", "content": "hi"}]}
    answer = await http.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    content: str = answer.json()["choices"][0]["message"]["content"]
    return content.removeprefix("served by ")


async def test_refresh_rereads_rotated_secrets(tmp_path: Path, bao: ExternalServer) -> None:
    bao_put(bao, "gateway/direct", {"api_key": OLD["direct"]})
    bao_put(bao, "gateway/ref", {"api_key": OLD["ref"]})
    keys = {OLD[name]: f"{name}-old" for name in OLD} | {NEW[name]: f"{name}-new" for name in NEW}
    async with fake_provider(keys) as upstream:
        direct = {"type": "openai_compatible", "base_url": upstream.base_url}
        direct["credential"] = "vault:secret/gateway/direct#api_key"
        settings = {
            "integration_crypto_key": ROOT_KEY,
            "vault_addr": bao.url,
            "vault_token": BAO_TOKEN,
            "external_secret_ttl": 3600,
            "credential_cache_ttl": 3600,
        }
        with run_gateway(tmp_path, {"providers": {"direct": direct}}, **settings) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
                stored_id = await _stored_provider(http, upstream.base_url, "stored", {"secret": OLD["stored"]})
                reference = {"reference": "vault:secret/gateway/ref#api_key"}
                await _stored_provider(http, upstream.base_url, "ref", reference)
                for name in OLD:
                    assert await served(http, name) == f"{name}-old"

                bao_put(bao, "gateway/direct", {"api_key": NEW["direct"]})
                bao_put(bao, "gateway/ref", {"api_key": NEW["ref"]})
                vault = gateway.services.vault
                assert vault is not None
                project = gateway.services.default_project_id
                verdict = Verification(SKIPPED)
                # As another replica rotates it: stored, with no word to this replica's cache.
                new_version = vault.store.add_version(project, stored_id, Secret(NEW["stored"]), verdict, 0)
                gateway.call(new_version)
                for name in OLD:
                    assert await served(http, name) == f"{name}-old"  # cached for an hour

                refreshed = await http.post("/admin/connections/refresh", params={"strict": "true"})
                assert refreshed.status_code == 200, refreshed.text
                statuses = {row["provider"]: row["status"] for row in refreshed.json()["data"]}
                assert statuses["direct"] == statuses["stored"] == statuses["ref"] == "ok"
                for name in NEW:
                    assert await served(http, name) == f"{name}-new"
        logs = gateway.logs.getvalue()
    for secret in (*OLD.values(), *NEW.values()):
        assert secret not in logs


async def _stored_provider(http: httpx.AsyncClient, base_url: str, name: str, secret: dict[str, str]) -> str:
    body = {"name": f"{name}-key", "provider": "openai_compatible", "verify": False, **secret}
    created = await http.post("/admin/credentials", json=body)
    assert created.status_code == 201, created.text
    credential: str = created.json()["id"]
    config = {"type": "openai_compatible", "base_url": base_url, "credential": credential}
    added = await http.post("/admin/providers", json={"name": name, "config": config})
    assert added.status_code == 201, added.text
    return credential
