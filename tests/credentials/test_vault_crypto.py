"""Envelope encryption at rest, on SQLite and PostgreSQL: no plaintext in any row, tampering is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from api_connector.credentials import crypto
from api_connector.credentials.keyring import KeyRing
from api_connector.credentials.records import Secret, Verification
from api_connector.credentials.store import CredentialStore
from api_connector.errors import DecryptionFailed
from api_connector.storage.credential_models import CredentialVersionRow, MasterKeyRow
from api_connector.storage.db import Database
from tests.credentials.conftest import roots

SECRET = "sk-live-plaintext-canary-4e7d2a9c1b3f5a7e9d0c"
JSON_SECRET = {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQ-canary-pk\n"}
UNVERIFIED = Verification("unverified: skipped", "verify=false")


async def _raw_rows(database: Database) -> str:
    """Every column of every vault row, as the database returns it, in one string."""
    dump = []
    async with database.engine.connect() as connection:
        for table in ("master_keys", "credentials", "credential_versions"):
            for row in (await connection.execute(text(f"SELECT * FROM {table}"))).all():
                for value in row:
                    dump.append(
                        value.hex() + "|" + bytes(value).decode("latin-1")
                        if isinstance(value, bytes | memoryview)
                        else str(value)
                    )
    return "\n".join(dump)


async def test_round_trip_and_no_plaintext_in_raw_rows(
    store: CredentialStore, project_id: str, database: Database
) -> None:
    text_cred = await store.create(project_id, "openai", "openai", Secret.of(SECRET), UNVERIFIED, 60)
    json_cred = await store.create(project_id, "gcp", "http", Secret.of(JSON_SECRET), UNVERIFIED, 60)
    _, loaded = await store.load(text_cred.id)
    assert loaded.value == SECRET and loaded.version == 1
    _, loaded_json = await store.load(json_cred.id)
    assert loaded_json.kind == "json" and loaded_json.value is not None and "MIIEvQ-canary-pk" in loaded_json.value

    raw = await _raw_rows(database)
    assert SECRET not in raw and "MIIEvQ-canary-pk" not in raw and "private_key" not in raw
    assert SECRET[-4:] in raw  # the display hint (last four characters) is all that is kept in the clear
    async with database.session() as session:
        versions = (await session.scalars(select(CredentialVersionRow))).all()
        master = (await session.scalars(select(MasterKeyRow))).all()
    assert len(master) == 1 and all(v.master_key_id == master[0].id for v in versions)  # key id on every row


async def _version_row(database: Database, credential_id: str) -> CredentialVersionRow:
    async with database.session() as session:
        row = await session.scalar(
            select(CredentialVersionRow).where(CredentialVersionRow.credential_id == credential_id)
        )
    assert row is not None
    return row


@pytest.mark.parametrize("column", ["ciphertext", "wrapped_key"])
@pytest.mark.parametrize("position", [0, 5, 20, -1])
async def test_a_flipped_byte_fails_clearly(
    store: CredentialStore, project_id: str, database: Database, column: str, position: int
) -> None:
    created = await store.create(project_id, "c", "openai", Secret.of(SECRET), UNVERIFIED, 60)
    row = await _version_row(database, created.id)
    blob = bytearray(getattr(row, column))
    blob[position] ^= 0x01
    async with database.session() as session, session.begin():
        await session.execute(
            update(CredentialVersionRow).where(CredentialVersionRow.id == row.id).values({column: bytes(blob)})
        )
    with pytest.raises(DecryptionFailed) as failure:
        await store.load(created.id)
    assert created.id in failure.value.message and "version 1" in failure.value.message
    assert failure.value.code == "decryption_failed" and failure.value.details
    assert failure.value.details["master_key_id"] == row.master_key_id


async def test_ciphertext_copied_onto_another_row_fails(
    store: CredentialStore, project_id: str, database: Database
) -> None:
    first = await store.create(project_id, "first", "openai", Secret.of(SECRET), UNVERIFIED, 60)
    second = await store.create(project_id, "second", "openai", Secret.of("sk-other-secret-0000000000"), UNVERIFIED, 60)
    source = await _version_row(database, first.id)
    async with database.session() as session, session.begin():
        await session.execute(
            update(CredentialVersionRow)
            .where(CredentialVersionRow.credential_id == second.id)
            .values(wrapped_key=source.wrapped_key, ciphertext=source.ciphertext)
        )
    with pytest.raises(DecryptionFailed) as failure:
        await store.load(second.id)
    assert "does not belong to this row" in failure.value.message
    # Only the ciphertext copied (data key kept): still refused, never garbage.
    target = await _version_row(database, second.id)
    assert target.wrapped_key == source.wrapped_key


def test_associated_data_binds_project_credential_field_and_version() -> None:
    key_id, key = "mk_test", crypto.new_key()
    address = crypto.RowAddress("proj_a", "cred_1", 3, "secret")
    envelope = crypto.encrypt(key_id, key, address, b"value")
    assert crypto.decrypt(key, address, envelope) == b"value"
    for other in (
        crypto.RowAddress("proj_b", "cred_1", 3, "secret"),
        crypto.RowAddress("proj_a", "cred_2", 3, "secret"),
        crypto.RowAddress("proj_a", "cred_1", 4, "secret"),
        crypto.RowAddress("proj_a", "cred_1", 3, "refresh_token"),
    ):
        with pytest.raises(DecryptionFailed):
            crypto.decrypt(key, other, envelope)
    with pytest.raises(DecryptionFailed):  # the wrong master key
        crypto.decrypt(crypto.new_key(), address, envelope)
    with pytest.raises(DecryptionFailed):  # another key id recorded on the row
        crypto.decrypt(key, address, crypto.Envelope("mk_other", envelope.wrapped_key, envelope.ciphertext))
    with pytest.raises(DecryptionFailed, match="truncated"):
        crypto.decrypt(key, address, crypto.Envelope(key_id, envelope.wrapped_key[:10], envelope.ciphertext))
    # Fresh data key and nonce each time: the same secret never encrypts alike.
    again = crypto.encrypt(key_id, key, address, b"value")
    assert again.ciphertext != envelope.ciphertext and again.wrapped_key != envelope.wrapped_key


async def test_wrong_root_key_reports_instead_of_garbage(
    store: CredentialStore, project_id: str, database: Database, tmp_path: Path
) -> None:
    created = await store.create(project_id, "c", "openai", Secret.of(SECRET), UNVERIFIED, 60)
    from tests.credentials.conftest import OTHER_ROOT_KEY

    stranger = CredentialStore(database, KeyRing(database, roots(tmp_path, OTHER_ROOT_KEY)))
    with pytest.raises(DecryptionFailed) as failure:
        await stranger.load(created.id)
    assert "not configured" in failure.value.message and "INTEGRATION_CRYPTO_KEY" in failure.value.message
    # Nor does it quietly make a master key of its own that only it could read.
    with pytest.raises(DecryptionFailed, match="no usable master key"):
        await stranger.create(project_id, "d", "openai", Secret.of(SECRET), UNVERIFIED, 60)
