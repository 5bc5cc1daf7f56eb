"""Organizations and projects on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest

from api_connector.errors import Conflict, NotFound, ValidationFailed
from api_connector.storage.db import Database
from api_connector.storage.tenancy import TenancyStore


async def test_ensure_default_is_idempotent_and_race_safe(database: Database) -> None:
    stores = [TenancyStore(database) for _ in range(8)]
    results = await asyncio.gather(*(store.ensure_default() for store in stores))
    assert len({org.id for org, _ in results}) == 1
    assert len({project.id for _, project in results}) == 1
    org, project = results[0]
    assert (org.name, project.name, project.organization_id) == ("default", "default", org.id)
    assert org.id.startswith("org_") and project.id.startswith("proj_")
    assert org.created_at.tzinfo is UTC
    assert await stores[0].ensure_default() == results[0]
    assert [o.name for o in await stores[0].list_organizations()] == ["default"]


async def test_organization_names_are_unique(database: Database) -> None:
    store = TenancyStore(database)
    acme = await store.create_organization("acme")
    with pytest.raises(Conflict):
        await store.create_organization("acme")
    assert await store.get_organization(acme.id) == acme
    await store.create_organization("globex")
    assert [o.name for o in await store.list_organizations()] == ["acme", "globex"]


async def test_project_names_are_unique_per_organization(database: Database) -> None:
    store = TenancyStore(database)
    acme = await store.create_organization("acme")
    globex = await store.create_organization("globex")
    web = await store.create_project(acme.id, "web")
    with pytest.raises(Conflict):
        await store.create_project(acme.id, "web")
    other = await store.create_project(globex.id, "web")  # same name, other organization: fine
    assert other.id != web.id
    assert await store.get_project(web.id) == web
    assert [p.id for p in await store.list_projects(acme.id)] == [web.id]
    assert {p.id for p in await store.list_projects()} == {web.id, other.id}


async def test_unknown_ids_are_not_found(database: Database) -> None:
    store = TenancyStore(database)
    with pytest.raises(NotFound):
        await store.create_project("org_missing", "web")
    with pytest.raises(NotFound):
        await store.get_project("proj_missing")
    with pytest.raises(NotFound):
        await store.get_organization("org_missing")
    with pytest.raises(NotFound):
        await store.list_projects("org_missing")


@pytest.mark.parametrize("name", ["", "   ", "x" * 256, "bad\nname"])
async def test_bad_names_are_validation_errors(database: Database, name: str) -> None:
    store = TenancyStore(database)
    with pytest.raises(ValidationFailed):
        await store.create_organization(name)
