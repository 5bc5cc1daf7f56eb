"""Gateway keys at rest: only a SHA-256 hash and a display prefix are ever stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from api_connector.auth.keys import ALL_SCOPES, display_prefix, generate_key, hash_key, normalize_scopes
from api_connector.errors import ConfigError, NotFound, ValidationFailed
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import GatewayKeyRow, ProjectRow, new_id, utcnow
from api_connector.storage.records import GatewayKey
from api_connector.storage.validation import check_name

# An operator-chosen bootstrap key shorter than this is too easy to guess.
MIN_BOOTSTRAP_KEY_LEN = 16
# Keeps each UPDATE ... WHERE id IN (...) well under every driver's parameter limit.
_TOUCH_CHUNK = 500

GatewayKeys = list[GatewayKey]  # `list` is shadowed by the method name inside the class body


class KeyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    @translate_errors
    async def create(self, project_id: str | None, name: str, scopes: Iterable[str]) -> tuple[GatewayKey, str]:
        """A new key and its plaintext. The plaintext is returned once and cannot be recovered."""
        name = check_name("key", name)
        try:
            scope_set = normalize_scopes(scopes)
        except ValueError as exc:
            raise ValidationFailed(str(exc), param="scopes") from None
        plaintext = generate_key()
        row = _new_row(project_id, name, plaintext, scope_set)
        async with self._db.session() as session, session.begin():
            if project_id is not None and await session.get(ProjectRow, project_id) is None:
                raise NotFound(f"project {project_id!r} not found")
            session.add(row)
        return _key(row), plaintext

    @translate_errors
    async def get_by_hash(self, key_hash: str) -> GatewayKey | None:
        """The key with this hash, revoked or not (``revoked_at`` says which), or None."""
        async with self._db.session() as session:
            row = await session.scalar(select(GatewayKeyRow).where(GatewayKeyRow.key_hash == key_hash))
        return _key(row) if row is not None else None

    @translate_errors
    async def get(self, key_id: str, project_id: str | None = None) -> GatewayKey:
        """One key; with a project id, only if it belongs to that project (NotFound otherwise)."""
        async with self._db.session() as session:
            row = await session.get(GatewayKeyRow, key_id)
        if row is None or (project_id is not None and row.project_id != project_id):
            raise NotFound(f"key {key_id!r} not found")
        return _key(row)

    @translate_errors
    async def list(self, project_id: str | None = None) -> GatewayKeys:
        """Keys of one project, or every key (global ones included) when ``project_id`` is None."""
        query = select(GatewayKeyRow).order_by(GatewayKeyRow.created_at, GatewayKeyRow.id)
        if project_id is not None:
            query = query.where(GatewayKeyRow.project_id == project_id)
        async with self._db.session() as session:
            return [_key(row) for row in await session.scalars(query)]

    @translate_errors
    async def revoke(self, key_id: str, project_id: str | None = None) -> GatewayKey:
        """Revoke a key (idempotent: an already revoked key keeps its original ``revoked_at``).

        With a project id only that project's keys are reachable; any other id is NotFound, so a
        project admin cannot even learn that another project's key exists.
        """
        async with self._db.session() as session, session.begin():
            query = select(GatewayKeyRow).where(GatewayKeyRow.id == key_id).with_for_update()
            row = await session.scalar(query)
            if row is None or (project_id is not None and row.project_id != project_id):
                raise NotFound(f"key {key_id!r} not found")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
        return _key(row)

    @translate_errors
    async def ensure_bootstrap(self, plaintext: str, name: str = "bootstrap") -> GatewayKey:
        """Make sure the operator's bootstrap key exists as a global key with every scope.

        Idempotent and race-safe (the unique hash lets one replica win). A bootstrap key that an
        admin has since revoked stays revoked: start-up must not resurrect it.
        """
        if len(plaintext) < MIN_BOOTSTRAP_KEY_LEN:
            raise ConfigError(f"API_CONNECTOR_ADMIN_KEY must be at least {MIN_BOOTSTRAP_KEY_LEN} characters")
        existing = await self.get_by_hash(hash_key(plaintext))
        if existing is not None:
            return existing
        row = _new_row(None, check_name("key", name), plaintext, ALL_SCOPES)
        try:
            async with self._db.session() as session, session.begin():
                session.add(row)
        except IntegrityError:
            existing = await self.get_by_hash(hash_key(plaintext))
            if existing is None:
                raise
            return existing
        return _key(row)

    @translate_errors
    async def touch_last_used(self, key_ids: Sequence[str]) -> None:
        """Stamp ``last_used_at`` for keys seen since the last flush (batched, off the request path)."""
        ids = sorted(set(key_ids))  # sorted: concurrent flushes lock rows in the same order
        if not ids:
            return
        now = utcnow()
        async with self._db.session() as session, session.begin():
            for start in range(0, len(ids), _TOUCH_CHUNK):
                chunk = ids[start : start + _TOUCH_CHUNK]
                await session.execute(update(GatewayKeyRow).where(GatewayKeyRow.id.in_(chunk)).values(last_used_at=now))


def _new_row(project_id: str | None, name: str, plaintext: str, scopes: frozenset[str]) -> GatewayKeyRow:
    return GatewayKeyRow(
        id=new_id("key"),
        project_id=project_id,
        name=name,
        key_hash=hash_key(plaintext),
        prefix=display_prefix(plaintext),
        scopes=sorted(scopes),
        created_at=utcnow(),
    )


def _key(row: GatewayKeyRow) -> GatewayKey:
    return GatewayKey(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        prefix=row.prefix,
        scopes=frozenset(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
