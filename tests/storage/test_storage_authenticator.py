"""The authenticator against the real key store on both backends."""

from __future__ import annotations

import pytest

from api_connector.auth.authenticator import Authenticator
from api_connector.errors import InvalidAPIKey, PermissionDenied
from api_connector.storage.db import Database
from api_connector.storage.keys import KeyStore
from api_connector.storage.tenancy import TenancyStore


async def test_authenticate_revoke_and_last_used(database: Database) -> None:
    _, project = await TenancyStore(database).ensure_default()
    store = KeyStore(database)
    key, plaintext = await store.create(project.id, "app", ["inference"])
    auth = Authenticator(store, cache_ttl=60)

    principal = await auth.authenticate(f"Bearer {plaintext}", None)
    assert (principal.key_id, principal.project_id) == (key.id, project.id)
    assert (await auth.authenticate(None, plaintext)) == principal
    assert auth.store_lookups == 1  # the second call was served from the cache
    with pytest.raises(PermissionDenied):
        principal.require("admin")

    assert await auth.flush_last_used() == 1
    assert (await store.get(key.id)).last_used_at is not None

    await auth.revoke(key.id, project.id)
    with pytest.raises(InvalidAPIKey):  # immediately, despite the 60 s cache
        await auth.authenticate(f"Bearer {plaintext}", None)


async def test_bootstrap_key_is_a_global_admin(database: Database) -> None:
    store = KeyStore(database)
    plaintext = "ack_operator_supplied_bootstrap_key_123456"
    await store.ensure_bootstrap(plaintext)
    principal = await Authenticator(store, cache_ttl=5).authenticate(None, plaintext)
    assert principal.is_global_admin
    assert principal.can_access_project("proj_anything")
