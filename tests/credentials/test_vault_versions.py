"""Credential versions: the newest valid one serves, the previous stays valid for the overlap, then retires."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from api_connector.credentials.records import Secret, Verification
from api_connector.credentials.store import CredentialStore
from api_connector.credentials.views import public_view
from api_connector.errors import Conflict, CredentialError, NotFound, ValidationFailed
from api_connector.storage.credential_models import CredentialVersionRow
from api_connector.storage.db import Database
from api_connector.storage.models import utcnow
from api_connector.storage.tenancy import TenancyStore

V = Verification("valid")


async def test_versions_and_overlap(store: CredentialStore, project_id: str, database: Database) -> None:
    created = await store.create(
        project_id, "k", "openai", Secret.of("sk-version-one-00000001"), V, overlap_seconds=600
    )
    rotated = await store.add_version(project_id, created.id, Secret.of("sk-version-two-00000002"), V)
    now = utcnow()
    newest, previous = rotated.versions
    assert (newest.version, previous.version) == (2, 1)
    assert newest.not_after is None and previous.not_after is not None
    assert timedelta(seconds=590) < previous.not_after - now <= timedelta(seconds=600)
    assert previous.valid_at(now) and rotated.current(now) == newest
    assert (await store.load(created.id))[1].value == "sk-version-two-00000002"
    assert (await store.load(created.id, version=1))[1].value == "sk-version-one-00000001"  # still valid

    # A third version with no overlap retires both earlier ones at once.
    third = await store.add_version(project_id, created.id, Secret.of("sk-version-three-000003"), V, overlap_seconds=0)
    later = utcnow() + timedelta(milliseconds=1)
    assert [v.valid_at(later) for v in third.versions] == [True, False, False]
    view = public_view(third, later)
    assert [v["status"] for v in view["versions"]] == ["current", "retired", "retired"]
    assert view["masked"] == "…0003" and view["current_version"] == 3


async def test_no_valid_version_left(store: CredentialStore, project_id: str, database: Database) -> None:
    created = await store.create(project_id, "k", "openai", Secret.of("sk-expiring-000000000001"), V, 60)
    async with database.session() as session, session.begin():
        await session.execute(update(CredentialVersionRow).values(not_after=utcnow() - timedelta(seconds=1)))
    with pytest.raises(CredentialError, match="no valid version"):
        await store.load(created.id)


async def test_projects_never_see_each_other(store: CredentialStore, project_id: str, database: Database) -> None:
    tenancy = TenancyStore(database)
    org = await tenancy.create_organization(f"other-{uuid.uuid4().hex[:8]}")
    other = await tenancy.create_project(org.id, "other")
    mine = await store.create(project_id, "same-name", "openai", Secret.of("sk-project-a-000000000001"), V, 60)
    theirs = await store.create(other.id, "same-name", "openai", Secret.of("sk-project-b-000000000002"), V, 60)
    assert [c.id for c in await store.list(project_id)] == [mine.id]
    for action in (
        store.get(project_id, theirs.id),
        store.add_version(project_id, theirs.id, Secret.of("sk-hijack-0000000000000"), V),
        store.set_state(project_id, theirs.id, "disabled"),
        store.delete(project_id, theirs.id),
    ):
        with pytest.raises(NotFound) as failure:
            await action
        assert failure.value.message == f"credential {theirs.id!r} not found"  # the same as a missing id
    assert (await store.get(other.id, theirs.id)).state == "active"
    with pytest.raises(Conflict):
        await store.create(project_id, "same-name", "openai", Secret.of("sk-duplicate-0000000001"), V, 60)


def test_secret_shapes() -> None:
    assert Secret.of("sk-abcdefghijkl").hint == "ijkl"
    assert Secret.of("short-pw").hint is None  # eight characters: no hint at all
    sa = Secret.of({"type": "service_account", "private_key": "k"})
    assert sa.kind == "json" and sa.hint is None and "private_key" not in repr(sa)
    for bad in ("", "   ", {}, 42):
        with pytest.raises(ValidationFailed):
            Secret.of(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        Secret.of("x" * (64 * 1024 + 1))
