"""Online master-key rotation: a new primary, every data key re-wrapped in batches, the old key retired.

Only the data keys are re-wrapped (the secrets' ciphertexts stay as they are, so no plaintext exists
during a rotation). Each batch commits on its own and changes a row only if it is still under the
key it was read under, so requests keep flowing, concurrent rotations of credentials are safe, and an
interrupted run loses at most one batch: ``--resume`` walks what is still under older keys.

A replica that has not reloaded its ring yet may still wrap a new credential under the previous
primary for up to ``KEY_RING_TTL`` seconds; the report counts such rows, ``--resume`` picks them up,
and retiring refuses while any row is still under the key (unless forced, which leaves them reported
as unreadable).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from api_connector.credentials import crypto
from api_connector.credentials.keyring import MasterKeyInfo
from api_connector.credentials.store import CredentialStore
from api_connector.errors import Conflict, DecryptionFailed, ValidationFailed

_EPOCH = datetime.fromtimestamp(0, UTC)
Progress = Callable[[int, int], None]  # (rows re-wrapped so far, rows that could not be)


@dataclass(frozen=True, slots=True)
class Unreadable:
    row_id: int
    credential_id: str
    version: int
    master_key_id: str
    reason: str


@dataclass(slots=True)
class RotationReport:
    primary: str
    rewrapped: int = 0
    unreadable: list[Unreadable] = field(default_factory=list)
    remaining: dict[str, int] = field(default_factory=dict)  # rows still under each older key


@dataclass(frozen=True, slots=True)
class KeyStatus:
    key: MasterKeyInfo
    rows: int


async def rewrap_all(
    store: CredentialStore, batch_size: int = 200, progress: Progress | None = None, pause: float = 0.0
) -> RotationReport:
    """Re-wrap every data key that is not under the primary master key."""
    primary_id, primary = await store.ring.primary()
    report = RotationReport(primary_id)
    after = 0
    while True:
        batch = await store.envelopes_not_under(primary_id, after, max(1, batch_size))
        if not batch:
            break
        changes = []
        for row_id, address, envelope in batch:
            try:
                old = await store.ring.key(envelope.master_key_id)
                changes.append(
                    (row_id, envelope.master_key_id, crypto.rewrap(old, primary_id, primary, address, envelope))
                )
            except DecryptionFailed as exc:
                report.unreadable.append(
                    Unreadable(row_id, address.credential_id, address.version, envelope.master_key_id, exc.message)
                )
        report.rewrapped += await store.replace_envelopes(changes)
        after = batch[-1][0]
        if progress is not None:
            progress(report.rewrapped, len(report.unreadable))
        if pause:
            await asyncio.sleep(pause)  # room for request traffic between write transactions
    counts = await store.count_by_master_key()
    report.remaining = {key_id: rows for key_id, rows in counts.items() if key_id != primary_id}
    return report


async def rotate_master_key(
    store: CredentialStore,
    *,
    new_key: bool = True,
    batch_size: int = 200,
    progress: Progress | None = None,
    pause: float = 0.0,
) -> RotationReport:
    """Move master keys onto the current root key, add a new primary (unless resuming), re-wrap all."""
    await store.ring.rewrap_under_current_root()
    if new_key:
        await store.ring.add()
    return await rewrap_all(store, batch_size, progress, pause)


async def retire(store: CredentialStore, key_id: str, *, force: bool = False) -> int:
    """Retire a master key (its material is destroyed); the number of rows left unreadable by it."""
    primary_id, _ = await store.ring.primary()
    if key_id == primary_id:
        raise ValidationFailed(f"{key_id} is the primary master key: rotate to a new one first")
    left = (await store.count_by_master_key()).get(key_id, 0)
    if left and not force:
        raise Conflict(
            f"{left} credential versions are still wrapped by {key_id}: run `rotate-master-key --resume` first "
            "(or retire with --force, which leaves them unreadable)"
        )
    await store.ring.retire(key_id)
    return left


async def status(store: CredentialStore) -> list[KeyStatus]:
    """Every master key with how many credential versions it wraps (rows under unusable keys stand out)."""
    counts = await store.count_by_master_key()
    keys = await store.ring.status()
    known = {info.id for info in keys}
    listed = [KeyStatus(info, counts.get(info.id, 0)) for info in keys]
    for key_id, rows in counts.items():
        if key_id not in known:  # rows naming a key the ring never had (restored from another database?)
            missing = MasterKeyInfo(key_id, "?", _EPOCH, None, False, "not in the key ring")
            listed.append(KeyStatus(missing, rows))
    return listed
