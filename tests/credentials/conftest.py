"""Vault fixtures: a migrated database (SQLite and the real PostgreSQL), a key ring, a store.

PostgreSQL is the session's shared database (``tests/postgres.py``); the vault's tables are emptied
before each test here, since every ring is bound to the root key its test configured.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from api_connector.credentials.keyring import KeyRing, RootKeys
from api_connector.credentials.store import CredentialStore
from api_connector.settings import load_settings
from api_connector.storage.credential_models import CredentialRow, CredentialVersionRow, MasterKeyRow
from api_connector.storage.db import Database
from api_connector.storage.tenancy import TenancyStore
from tests.credentials.servers import ExternalServer, moto, openbao

ROOT_KEY = base64.b64encode(bytes(range(1, 33))).decode()
OTHER_ROOT_KEY = base64.b64encode(bytes(range(101, 133))).decode()


async def clear_vault(database: Database) -> None:
    async with database.engine.begin() as connection:
        for table in (CredentialVersionRow, CredentialRow, MasterKeyRow):
            await connection.execute(delete(table))


def roots(tmp_path: Path, key: str = ROOT_KEY, old: str | None = None) -> RootKeys:
    return RootKeys.from_settings(
        load_settings(data_dir=tmp_path, integration_crypto_key=key, integration_crypto_keys_old=old)
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'vault.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, max_open=10, max_idle=2)
    await db.migrate()
    await clear_vault(db)
    try:
        yield db
    finally:
        await clear_vault(db)  # the shared PostgreSQL database: leave no ring bound to this test's root key
        await db.close()


@pytest.fixture
async def project_id(database: Database) -> str:
    _, project = await TenancyStore(database).ensure_default()
    return project.id


@pytest.fixture
def store(database: Database, tmp_path: Path) -> CredentialStore:
    return CredentialStore(database, KeyRing(database, roots(tmp_path)))


@pytest.fixture
def bao(tmp_path: Path) -> Iterator[ExternalServer]:
    with openbao(tmp_path) as server:
        yield server


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ExternalServer]:
    # boto3 reads its credentials from the environment; moto accepts any.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto(tmp_path) as server:
        yield server
