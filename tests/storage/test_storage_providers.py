"""Provider instances: CRUD, conflicts and strict per-project isolation."""

from __future__ import annotations

import pytest

from api_connector.errors import Conflict, NotFound, ValidationFailed
from api_connector.storage.db import Database
from api_connector.storage.provider_store import ProviderStore
from api_connector.storage.tenancy import TenancyStore


async def _projects(database: Database) -> tuple[str, str]:
    tenancy = TenancyStore(database)
    org = await tenancy.create_organization("acme")
    return (await tenancy.create_project(org.id, "a")).id, (await tenancy.create_project(org.id, "b")).id


async def test_crud(database: Database) -> None:
    a, _ = await _projects(database)
    store = ProviderStore(database)
    config = {"type": "openai", "credential": "env:OPENAI_API_KEY", "rate_limit": {"requests_per_minute": 5}}
    created = await store.create(a, "openai-main", "openai", config)
    config["credential"] = "mutated after the call"
    assert created.config["credential"] == "env:OPENAI_API_KEY"
    assert created.id.startswith("prov_") and created.created_at == created.updated_at

    fetched = await store.get(a, "openai-main")
    assert fetched == created
    fetched.config["credential"] = "mutating a returned copy"
    assert (await store.get(a, "openai-main")).config["credential"] == "env:OPENAI_API_KEY"

    updated = await store.update(a, "openai-main", {"type": "openai", "timeout": 10})
    assert updated.config == {"type": "openai", "timeout": 10}
    assert updated.updated_at >= created.updated_at and updated.created_at == created.created_at
    await store.create(a, "anthropic-main", "anthropic", {})
    assert [p.name for p in await store.list(a)] == ["anthropic-main", "openai-main"]

    await store.delete(a, "openai-main")
    with pytest.raises(NotFound):
        await store.get(a, "openai-main")
    with pytest.raises(NotFound):
        await store.delete(a, "openai-main")


async def test_conflicts_and_validation(database: Database) -> None:
    a, b = await _projects(database)
    store = ProviderStore(database)
    await store.create(a, "main", "openai", {})
    with pytest.raises(Conflict):
        await store.create(a, "main", "anthropic", {})
    await store.create(b, "main", "openai", {})  # same name in another project is fine
    with pytest.raises(NotFound):
        await store.create("proj_missing", "x", "openai", {})
    with pytest.raises(ValidationFailed):
        await store.create(a, "bytes", "openai", {"blob": b"\x00"})
    with pytest.raises(ValidationFailed):
        await store.create(a, "nan", "openai", {"weight": float("nan")})
    with pytest.raises(ValidationFailed):
        await store.update(a, "main", {"weight": float("inf")})


async def test_projects_never_see_each_other(database: Database) -> None:
    a, b = await _projects(database)
    store = ProviderStore(database)
    await store.create(a, "secret-a", "openai", {"base_url": "https://a.example"})
    assert await store.list(b) == []
    with pytest.raises(NotFound):
        await store.get(b, "secret-a")
    with pytest.raises(NotFound):
        await store.update(b, "secret-a", {})
    with pytest.raises(NotFound):
        await store.delete(b, "secret-a")
    assert (await store.get(a, "secret-a")).config == {"base_url": "https://a.example"}
