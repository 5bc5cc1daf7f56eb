"""Gateway keys at rest: hash only, revocation, project isolation, bootstrap."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import text

from api_connector.auth.keys import Scope, hash_key
from api_connector.errors import ConfigError, NotFound, ValidationFailed
from api_connector.storage.db import Database
from api_connector.storage.keys import KeyStore
from api_connector.storage.records import Project
from api_connector.storage.tenancy import TenancyStore


async def _two_projects(database: Database) -> tuple[Project, Project]:
    tenancy = TenancyStore(database)
    org = await tenancy.create_organization("acme")
    return await tenancy.create_project(org.id, "a"), await tenancy.create_project(org.id, "b")


async def test_only_the_hash_reaches_the_database(database: Database) -> None:
    a, _ = await _two_projects(database)
    key, plaintext = await KeyStore(database).create(a.id, "ci", [Scope.INFERENCE, "requests"])
    assert plaintext.startswith("ack_") and len(plaintext) == 44
    assert key.id.startswith("key_")
    assert key.prefix == plaintext[:12]
    assert key.scopes == frozenset({"inference", "requests"})
    assert key.project_id == a.id and key.revoked_at is None and key.last_used_at is None

    async with database.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM gateway_keys"))).mappings().all()
    assert len(rows) == 1
    row = dict(rows[0])
    assert row["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    # The plaintext (or its secret part) appears in no column.
    secret_part = plaintext[12:]
    assert not any(secret_part in str(value) for value in row.values())


async def test_get_by_hash_and_revoke(database: Database) -> None:
    a, _ = await _two_projects(database)
    store = KeyStore(database)
    key, plaintext = await store.create(a.id, "ci", ["inference"])
    assert await store.get_by_hash(hash_key(plaintext)) == key
    assert await store.get_by_hash(hash_key("ack_unknown")) is None

    revoked = await store.revoke(key.id, a.id)
    assert revoked.revoked_at is not None and not revoked.active
    again = await store.revoke(key.id)  # idempotent: keeps the first revocation time
    assert again.revoked_at == revoked.revoked_at
    found = await store.get_by_hash(hash_key(plaintext))
    assert found is not None and found.revoked_at == revoked.revoked_at


async def test_keys_are_isolated_by_project(database: Database) -> None:
    a, b = await _two_projects(database)
    store = KeyStore(database)
    key_a, _ = await store.create(a.id, "a-key", ["inference"])
    key_b, _ = await store.create(b.id, "b-key", ["admin"])
    global_key, _ = await store.create(None, "root", ["admin"])

    assert [k.id for k in await store.list(a.id)] == [key_a.id]
    assert {k.id for k in await store.list(None)} == {key_a.id, key_b.id, global_key.id}
    with pytest.raises(NotFound):
        await store.revoke(key_b.id, a.id)  # project a's admin cannot touch project b's key
    with pytest.raises(NotFound):
        await store.revoke(global_key.id, a.id)
    with pytest.raises(NotFound):
        await store.get(key_b.id, a.id)
    assert (await store.get(key_b.id, b.id)).revoked_at is None
    assert (await store.revoke(key_b.id, None)).revoked_at is not None  # a global admin can


async def test_create_validates_project_name_and_scopes(database: Database) -> None:
    store = KeyStore(database)
    with pytest.raises(NotFound):
        await store.create("proj_missing", "x", ["inference"])
    with pytest.raises(ValidationFailed):
        await store.create(None, "x", ["inference", "superuser"])
    with pytest.raises(ValidationFailed):
        await store.create(None, "x", [])
    with pytest.raises(ValidationFailed):
        await store.create(None, "x", "admin")
    with pytest.raises(ValidationFailed):
        await store.create(None, "", ["admin"])
    assert await store.list(None) == []


async def test_ensure_bootstrap_is_idempotent_and_global(database: Database) -> None:
    store = KeyStore(database)
    plaintext = "operator-chosen-admin-secret-0123"
    results = await asyncio.gather(*(KeyStore(database).ensure_bootstrap(plaintext) for _ in range(5)))
    assert len({k.id for k in results}) == 1
    key = results[0]
    assert key.project_id is None and key.name == "bootstrap"
    assert key.scopes == {"admin", "inference", "requests"}
    # A short operator key must not be mostly revealed by its display prefix.
    assert len(key.prefix) <= 4
    assert len(await store.list(None)) == 1
    await store.revoke(key.id)
    again = await store.ensure_bootstrap(plaintext)
    assert again.id == key.id and again.revoked_at is not None  # not resurrected
    with pytest.raises(ConfigError):
        await store.ensure_bootstrap("short")


async def test_touch_last_used(database: Database) -> None:
    a, _ = await _two_projects(database)
    store = KeyStore(database)
    used, _ = await store.create(a.id, "used", ["inference"])
    idle, _ = await store.create(a.id, "idle", ["inference"])
    await store.touch_last_used([])
    await store.touch_last_used([used.id, used.id, "key_gone"])
    by_id = {k.id: k for k in await store.list(a.id)}
    assert by_id[used.id].last_used_at is not None
    assert by_id[used.id].last_used_at >= used.created_at  # type: ignore[operator]
    assert by_id[idle.id].last_used_at is None
