"""The key ring: the development key file, production's refusal, root rotation, rotation, retirement."""

from __future__ import annotations

import asyncio
import base64
import stat
from pathlib import Path

import pytest
from sqlalchemy import update

from api_connector.credentials import rotation
from api_connector.credentials.keyring import DEV_KEY_FILE, KeyRing, RootKeys
from api_connector.credentials.records import Secret, Verification
from api_connector.credentials.store import CredentialStore
from api_connector.errors import ConfigError, Conflict, DecryptionFailed, ValidationFailed
from api_connector.settings import load_settings
from api_connector.storage.credential_models import CredentialVersionRow
from api_connector.storage.db import Database
from tests.credentials.conftest import OTHER_ROOT_KEY, ROOT_KEY, roots

UNVERIFIED = Verification("unverified: skipped")


def test_development_key_is_made_once_with_0600(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = RootKeys.from_settings(load_settings(data_dir=tmp_path, env="development"))
    key_file = tmp_path / DEV_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text())) == 32
    assert first.development_file == key_file
    assert any("DEVELOPMENT MASTER KEY" in record.getMessage() for record in caplog.records)
    again = RootKeys.from_settings(load_settings(data_dir=tmp_path, env="test"))
    assert again.primary_id == first.primary_id and again.primary == first.primary


def test_production_requires_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="INTEGRATION_CRYPTO_KEY is required when ENV=production"):
        RootKeys.from_settings(load_settings(data_dir=tmp_path, env="production"))
    assert not (tmp_path / DEV_KEY_FILE).exists()
    configured = RootKeys.from_settings(
        load_settings(data_dir=tmp_path, env="production", integration_crypto_key=ROOT_KEY)
    )
    assert configured.primary == base64.b64decode(ROOT_KEY) and configured.development_file is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("integration_crypto_key", base64.b64encode(b"x" * 16).decode()),
        ("integration_crypto_key", base64.b64encode(b"x" * 33).decode()),
        ("integration_crypto_keys_old", ROOT_KEY + "," + base64.b64encode(b"short").decode()),
    ],
)
def test_a_key_of_the_wrong_length_is_refused_without_echoing_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as failure:
        load_settings(**{name: value})
    assert name.upper() in failure.value.message and "32 bytes" in failure.value.message
    assert value not in failure.value.message


async def test_root_rotation_keeps_every_credential(
    store: CredentialStore, project_id: str, database: Database, tmp_path: Path
) -> None:
    created = await store.create(project_id, "c", "openai", Secret.of("sk-before-root-rotation-0001"), UNVERIFIED, 60)
    # New root configured, the old one listed as old: everything still opens, then moves to the new root.
    rotated_roots = roots(tmp_path, OTHER_ROOT_KEY, old=ROOT_KEY)
    moved = CredentialStore(database, KeyRing(database, rotated_roots))
    assert (await moved.load(created.id))[1].value == "sk-before-root-rotation-0001"
    report = await rotation.rotate_master_key(moved)
    assert report.rewrapped == 1 and not report.remaining and not report.unreadable
    # The old root is no longer needed at all.
    only_new = CredentialStore(database, KeyRing(database, roots(tmp_path, OTHER_ROOT_KEY)))
    assert (await only_new.load(created.id))[1].value == "sk-before-root-rotation-0001"
    statuses = await rotation.status(only_new)
    assert {s.key.root_key_id for s in statuses} == {rotated_roots.primary_id}


async def test_rotate_resume_and_retire(
    store: CredentialStore, project_id: str, database: Database, tmp_path: Path
) -> None:
    ids = [
        (
            await store.create(
                project_id, f"c{i}", "openai", Secret.of(f"sk-rotation-secret-{i:04d}-xx"), UNVERIFIED, 60
            )
        ).id
        for i in range(7)
    ]
    old_key, _ = await store.ring.primary()

    class Interrupted(Exception):
        pass

    def crash_after_first_batch(done: int, failed: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await rotation.rotate_master_key(store, batch_size=3, progress=crash_after_first_batch)
    new_key, _ = await store.ring.primary()
    assert new_key != old_key
    counts = await store.count_by_master_key()
    assert counts == {new_key: 3, old_key: 4}  # one batch committed, the rest untouched
    for credential_id in ids:  # readable throughout, whichever key wraps it
        assert (await store.load(credential_id))[1].value is not None

    with pytest.raises(Conflict, match="still wrapped"):
        await rotation.retire(store, old_key)
    report = await rotation.rotate_master_key(store, new_key=False, batch_size=3)
    assert report.primary == new_key and report.rewrapped == 4 and report.remaining == {}
    with pytest.raises(ValidationFailed, match="primary"):
        await rotation.retire(store, new_key)
    assert await rotation.retire(store, old_key) == 0
    assert [(s.key.id, s.rows) for s in await rotation.status(store) if s.key.retired_at] == [(old_key, 0)]
    for index, credential_id in enumerate(ids):
        assert (await store.load(credential_id))[1].value == f"sk-rotation-secret-{index:04d}-xx"


async def test_a_row_under_a_retired_key_is_reported(
    store: CredentialStore, project_id: str, database: Database
) -> None:
    created = await store.create(project_id, "left", "openai", Secret.of("sk-left-behind-000000000"), UNVERIFIED, 60)
    old_key, _ = await store.ring.primary()
    await store.ring.add()
    # Forced retirement with the row still under the old key.
    assert await rotation.retire(store, old_key, force=True) == 1
    with pytest.raises(DecryptionFailed) as failure:
        await store.load(created.id)
    assert f"master key {old_key} is retired" in failure.value.message and created.id in failure.value.message
    report = await rotation.rewrap_all(store)
    assert [(u.credential_id, u.master_key_id) for u in report.unreadable] == [(created.id, old_key)]
    listed = {s.key.id: (s.rows, s.key.problem) for s in await rotation.status(store)}
    assert listed[old_key][0] == 1 and "retired" in (listed[old_key][1] or "")


async def test_unknown_key_id_reloads_the_ring(
    store: CredentialStore, project_id: str, database: Database, tmp_path: Path
) -> None:
    created = await store.create(project_id, "c", "openai", Secret.of("sk-ring-reload-0000000000"), UNVERIFIED, 60)
    # Another replica, with a long ring TTL, loads the ring now...
    replica = CredentialStore(database, KeyRing(database, roots(tmp_path), ttl=3600))
    assert (await replica.load(created.id))[1].value == "sk-ring-reload-0000000000"
    others = [
        (await store.create(project_id, f"o{i}", "openai", Secret.of(f"sk-ring-other-{i:012d}"), UNVERIFIED, 60)).id
        for i in range(6)
    ]
    # ...then this one rotates: the replica meets a key id it does not know and reloads at once, and
    # requests meeting it at the same moment share that reload rather than fail meanwhile.
    await rotation.rotate_master_key(store)
    loaded = await asyncio.gather(*(replica.load(i) for i in [created.id, *others]))
    assert [item[1].value for item in loaded] == ["sk-ring-reload-0000000000"] + [
        f"sk-ring-other-{i:012d}" for i in range(6)
    ]
    # A key id that exists nowhere is a clear error, not a reload per request.
    async with database.session() as session, session.begin():
        await session.execute(
            update(CredentialVersionRow)
            .where(CredentialVersionRow.credential_id == created.id)
            .values(master_key_id="mk_nowhere")
        )
    with pytest.raises(DecryptionFailed, match="mk_nowhere is not in the key ring"):
        await replica.load(created.id)
