"""The vault service on its own: caching, one use audit per request, failed decrypts audited, ownership."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update

from api_connector.credentials.records import Secret, Verification
from api_connector.credentials.resolver import Access
from api_connector.credentials.store import CredentialStore
from api_connector.credentials.vault import CredentialVault
from api_connector.errors import CredentialError, DecryptionFailed
from api_connector.observability.redaction import Redactor
from api_connector.storage.credential_models import CredentialVersionRow
from api_connector.storage.db import Database

SECRET = "sk-service-canary-1c3e5a7b9d0f"
V = Verification("valid")


@dataclass
class Ctx:
    request_id: str
    project_id: str
    key_id: str | None = "key_test"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _vault(store: CredentialStore, audits: list[dict[str, Any]], clock: Clock, ttl: float = 30) -> CredentialVault:
    async def audit(**record: Any) -> None:
        audits.append(record)

    async def no_external(reference: str) -> str:
        raise CredentialError(f"{reference}: not configured here")

    return CredentialVault(store, audit, Redactor(), external=no_external, cache_ttl=ttl, clock=clock)


async def test_cache_audit_and_ownership(store: CredentialStore, project_id: str, database: Database) -> None:
    audits: list[dict[str, Any]] = []
    clock = Clock()
    vault = _vault(store, audits, clock)
    created = await store.create(project_id, "k", "openai", Secret.of(SECRET), V, 60)
    ctx = Ctx("req-1", project_id)
    for _ in range(3):  # a request that retried: one use row
        assert await vault.resolve(created.id, Access(ctx, owner_project=project_id)) == SECRET
    assert await vault.resolve(created.id, Access(Ctx("req-2", project_id), owner_project=None)) == SECRET
    uses = [a for a in audits if a["action"] == "credential.use"]
    assert [(u["request_id"], u["details"]["version"], u["actor_key_id"]) for u in uses] == [
        ("req-1", 1, "key_test"),
        ("req-2", 1, "key_test"),
    ]

    # Served from memory within the TTL: a rotation elsewhere shows only after it (or at once here).
    await store.add_version(project_id, created.id, Secret.of("sk-service-rotated-2d4f6b8a0c1e"), V)
    assert await vault.resolve(created.id, Access()) == SECRET
    clock.now += 31
    assert await vault.resolve(created.id, Access()) == "sk-service-rotated-2d4f6b8a0c1e"

    # A provider instance of another project never gets it, and learns nothing about it.
    with pytest.raises(CredentialError, match=f"credential {created.id} not found"):
        await vault.resolve(created.id, Access(Ctx("req-3", "proj_other"), owner_project="proj_other"))
    with pytest.raises(CredentialError, match="not found"):
        await vault.resolve("cred_doesnotexist", Access())


async def test_failed_decrypt_is_audited_without_the_secret(
    store: CredentialStore, project_id: str, database: Database
) -> None:
    audits: list[dict[str, Any]] = []
    vault = _vault(store, audits, Clock(), ttl=0)
    created = await store.create(project_id, "k", "openai", Secret.of(SECRET), V, 60)
    async with database.session() as session, session.begin():
        await session.execute(update(CredentialVersionRow).values(ciphertext=b"\x01" + b"\x00" * 40))
    with pytest.raises(DecryptionFailed):
        await vault.resolve(created.id, Access(Ctx("req-9", project_id), owner_project=project_id))
    (failed,) = [a for a in audits if a["action"] == "credential.decrypt"]
    assert failed["outcome"] == "failure" and failed["request_id"] == "req-9" and failed["target_id"] == created.id
    assert failed["details"]["version"] == 1 and failed["details"]["master_key_id"].startswith("mk_")
    assert SECRET not in repr(audits)
