"""The key ring: root keys from the environment, master keys in the database, one of them primary.

Root keys never touch the database. ``INTEGRATION_CRYPTO_KEY`` is the root that wraps master keys
(with no key configured outside production, a development key is generated once into
``DATA_DIR/master.key`` with 0600 permissions and announced loudly on every start);
``INTEGRATION_CRYPTO_KEYS_OLD`` lists earlier roots, still accepted to unwrap while a root rotation
runs. Each root's id (``rk_...``) is derived from the key, so every replica names it alike.

Master keys (``mk_...``) live in the ``master_keys`` table, each wrapped by a root key. The newest
one that is not retired is the primary: new data keys are wrapped by it. ``rotate-master-key`` adds a
new one (so it becomes primary in every replica within ``KEY_RING_TTL`` seconds, or at once when a
replica meets a key id it does not know), re-wraps every data key under it, and can then retire the
old one: retiring destroys the key material, and rows still under it are reported by id.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from api_connector.credentials import crypto
from api_connector.errors import ConfigError, DecryptionFailed
from api_connector.settings import Settings
from api_connector.storage.credential_models import MasterKeyRow
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import utcnow

# The standard library's logger: the CLI, which configures no logging, then warns on stderr, never on
# the stdout that carries command output.
log = logging.getLogger("api_connector.credentials")
DEV_KEY_FILE = "master.key"
# A replica that meets an unknown key id reloads the ring, but not more often than this (seconds):
# a row naming a key that truly does not exist must not turn every request into a query.
_MISS_RELOAD_INTERVAL = 1.0
_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class RootKeys:
    primary_id: str
    by_id: dict[str, bytes]
    development_file: Path | None = None

    @property
    def primary(self) -> bytes:
        return self.by_id[self.primary_id]

    @classmethod
    def from_settings(cls, settings: Settings) -> RootKeys:
        configured, old = settings.root_keys()
        dev_file = None
        if configured is None:
            if settings.env == "production":
                raise ConfigError(
                    "INTEGRATION_CRYPTO_KEY is required when ENV=production (base64 of 32 random bytes, "
                    "e.g. `openssl rand -base64 32`)"
                )
            dev_file = settings.data_dir / DEV_KEY_FILE
            configured = development_key(dev_file)
            log.warning(
                "USING A DEVELOPMENT MASTER KEY (%s): anyone who can read this file can decrypt every stored "
                "credential; set INTEGRATION_CRYPTO_KEY (required when ENV=production)",
                dev_file,
            )
        by_id = {crypto.root_key_id(key): key for key in (*old, configured)}
        return cls(crypto.root_key_id(configured), by_id, dev_file)


def development_key(path: Path) -> bytes:
    """The development root key at ``path``, created (0600, exclusively) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    key = crypto.new_key()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
    log.warning("generated a development master key in %s", path)
    return key


def _read_key_file(path: Path) -> bytes:
    # Another worker may have created the file a moment ago and not written it yet.
    for _ in range(50):
        text = path.read_text(encoding="ascii").strip()
        if text:
            break
        time.sleep(0.02)
    if path.stat().st_mode & 0o077:
        log.warning("the development key file %s is readable by other users; chmod 600 it", path)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != crypto.KEY_BYTES:
        raise ConfigError(f"{path} does not hold a base64 256-bit key; restore it or set INTEGRATION_CRYPTO_KEY")
    return key


@dataclass(frozen=True, slots=True)
class MasterKeyInfo:
    """A ring member as reported (never its material)."""

    id: str
    root_key_id: str
    created_at: datetime
    retired_at: datetime | None
    primary: bool
    problem: str | None  # why it cannot be used, when it cannot


class KeyRing:
    def __init__(
        self, database: Database, roots: RootKeys, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = database
        self.roots = roots
        self._ttl = ttl
        self._clock = clock
        self._keys: dict[str, bytes] = {}
        self._problems: dict[str, str] = {}
        self._info: list[MasterKeyInfo] = []
        self._primary_id: str | None = None
        self._loaded_at: float | None = None
        self._miss_reloads: dict[str, float] = {}  # unknown key id -> when it last caused a reload
        self._lock = asyncio.Lock()

    # -- reading -----------------------------------------------------------------------------
    @translate_errors
    async def reload(self) -> None:
        async with self._db.session() as session:
            rows = list(await session.scalars(select(MasterKeyRow).order_by(MasterKeyRow.created_at, MasterKeyRow.id)))
        keys: dict[str, bytes] = {}
        problems: dict[str, str] = {}
        for row in rows:
            problem, key = self._unwrap(row)
            if key is not None:
                keys[row.id] = key
            else:
                problems[row.id] = problem or "unusable"
        live = [row for row in rows if row.retired_at is None and row.id in keys]
        primary = live[-1].id if live else None
        self._keys, self._problems, self._primary_id = keys, problems, primary
        self._info = [
            MasterKeyInfo(r.id, r.root_key_id, r.created_at, r.retired_at, r.id == primary, problems.get(r.id))
            for r in rows
        ]
        self._loaded_at = self._clock()

    def _unwrap(self, row: MasterKeyRow) -> tuple[str | None, bytes | None]:
        if row.retired_at is not None or row.wrapped_key is None:
            return f"master key {row.id} is retired", None
        root = self.roots.by_id.get(row.root_key_id)
        if root is None:
            return (
                f"master key {row.id} is wrapped by root key {row.root_key_id}, which is not configured "
                "(INTEGRATION_CRYPTO_KEY / INTEGRATION_CRYPTO_KEYS_OLD)"
            ), None
        try:
            return None, crypto.unwrap_master_key(root, row.root_key_id, row.id, row.wrapped_key)
        except DecryptionFailed as exc:
            return exc.message, None

    async def _refresh(self, force: bool = False) -> None:
        stale = self._loaded_at is None or self._clock() - self._loaded_at >= self._ttl
        if not (force or stale):
            return
        async with self._lock:
            if not force and self._loaded_at is not None and self._clock() - self._loaded_at < self._ttl:
                return  # another task reloaded while this one waited
            await self._reload_locked()

    async def _reload_locked(self) -> None:
        try:
            await self.reload()
        except Exception:
            if self._loaded_at is None:
                raise
            # Keys never change once made: the ring in memory stays right apart from new keys.
            log.warning("could not reload the master-key ring; using the one in memory")

    async def key(self, key_id: str) -> bytes:
        """The material of master key ``key_id``; DecryptionFailed naming the reason when unusable."""
        await self._refresh()
        key = self._keys.get(key_id)
        if key is None and key_id not in self._problems:
            # Probably a key another replica just added. Waiting on the lock lets every request that
            # meets it share the one reload already under way, instead of failing meanwhile.
            async with self._lock:
                key = self._keys.get(key_id)
                last = self._miss_reloads.get(key_id, float("-inf"))
                if key is None and self._clock() - last >= _MISS_RELOAD_INTERVAL:
                    if len(self._miss_reloads) > 1000:
                        self._miss_reloads.clear()
                    self._miss_reloads[key_id] = self._clock()
                    await self._reload_locked()
                    key = self._keys.get(key_id)
        if key is None:
            raise DecryptionFailed(self._problems.get(key_id) or f"master key {key_id} is not in the key ring")
        return key

    async def primary(self) -> tuple[str, bytes]:
        """The primary master key (id, material), creating the first one when the ring is empty."""
        await self._refresh()
        if self._primary_id is None:
            await self._refresh(force=True)
        if self._primary_id is None:
            if any(info.retired_at is None for info in self._info):
                raise DecryptionFailed(
                    "no usable master key: " + "; ".join(p for p in self._problems.values() if "retired" not in p)
                )
            await self.add()
        assert self._primary_id is not None
        return self._primary_id, self._keys[self._primary_id]

    async def status(self) -> list[MasterKeyInfo]:
        await self._refresh(force=True)
        return list(self._info)

    # -- changing ----------------------------------------------------------------------------
    @translate_errors
    async def add(self) -> str:
        """A new master key, wrapped by the current root; being the newest, it is the primary."""
        key_id = f"mk_{os.urandom(8).hex()}"
        material = crypto.new_key()
        wrapped = crypto.wrap_master_key(self.roots.primary, self.roots.primary_id, key_id, material)
        async with self._db.session() as session, session.begin():
            newest = await session.scalar(select(MasterKeyRow.created_at).order_by(MasterKeyRow.created_at.desc()))
            now = utcnow()
            # Primary is "newest": never let a clock step make the new key sort before the old one.
            created = now if newest is None or now > newest else newest.replace(microsecond=0) + _ONE_SECOND
            session.add(
                MasterKeyRow(id=key_id, root_key_id=self.roots.primary_id, wrapped_key=wrapped, created_at=created)
            )
        await self._refresh(force=True)
        return key_id

    @translate_errors
    async def retire(self, key_id: str) -> None:
        """Destroy a master key's material; what is still under it becomes unreadable and is reported."""
        async with self._db.session() as session, session.begin():
            row = await session.get(MasterKeyRow, key_id)
            if row is None:
                raise DecryptionFailed(f"master key {key_id} is not in the key ring")
            row.retired_at = row.retired_at or utcnow()
            row.wrapped_key = None
        await self._refresh(force=True)

    @translate_errors
    async def rewrap_under_current_root(self) -> int:
        """Re-wrap every usable master key under the primary root key (after a root rotation)."""
        await self._refresh(force=True)
        moved = 0
        for info in self._info:
            if info.root_key_id == self.roots.primary_id or info.id not in self._keys:
                continue
            wrapped = crypto.wrap_master_key(self.roots.primary, self.roots.primary_id, info.id, self._keys[info.id])
            async with self._db.session() as session, session.begin():
                await session.execute(
                    update(MasterKeyRow)
                    .where(MasterKeyRow.id == info.id, MasterKeyRow.root_key_id == info.root_key_id)
                    .values(root_key_id=self.roots.primary_id, wrapped_key=wrapped)
                )
            moved += 1
        await self._refresh(force=True)
        return moved
