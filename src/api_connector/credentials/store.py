"""Credentials at rest: rows, versions and their envelopes, over SQLAlchemy (SQLite or PostgreSQL).

Every read and change is filtered by project, so a project can never read, change or even detect
another project's credentials. Plaintext exists here only between ``crypto.decrypt`` and the caller;
what is stored is the envelope, the id of the master key that wrapped it, and a four-character hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from api_connector.credentials import crypto
from api_connector.credentials.keyring import KeyRing
from api_connector.credentials.records import (
    ACTIVE,
    Credential,
    CredentialVersion,
    LoadedSecret,
    Secret,
    Verification,
    check_reference,
)
from api_connector.errors import Conflict, CredentialError, DecryptionFailed, NotFound, ValidationFailed
from api_connector.storage.credential_models import CredentialRow, CredentialVersionRow
from api_connector.storage.db import Database, translate_errors
from api_connector.storage.models import ProjectRow, new_id, utcnow
from api_connector.storage.validation import check_name

# `list` is shadowed by the method name inside the class body.
EnvelopeBatch = list[tuple[int, crypto.RowAddress, crypto.Envelope]]


class CredentialStore:
    def __init__(self, database: Database, ring: KeyRing) -> None:
        self._db = database
        self.ring = ring

    async def _primary(self, secret: Secret | None) -> tuple[str, bytes] | None:
        # Fetched before any transaction opens: creating the first master key writes on its own.
        return await self.ring.primary() if secret is not None else None

    @staticmethod
    def _envelope_row(
        primary: tuple[str, bytes] | None,
        project_id: str,
        credential_id: str,
        version: int,
        secret: Secret | None,
        reference: str | None,
    ) -> dict[str, Any]:
        if reference is not None:
            return {"reference": check_reference(reference)}
        if secret is None or primary is None:
            raise ValidationFailed("give either a secret or a reference", param="secret")
        key_id, key = primary
        address = crypto.RowAddress(project_id, credential_id, version)
        envelope = crypto.encrypt(key_id, key, address, secret.value.encode("utf-8"))
        return {
            "master_key_id": envelope.master_key_id,
            "wrapped_key": envelope.wrapped_key,
            "ciphertext": envelope.ciphertext,
            "hint": secret.hint,
        }

    @translate_errors
    async def create(
        self,
        project_id: str,
        name: str,
        provider: str,
        secret: Secret | None,
        verification: Verification,
        overlap_seconds: int,
        reference: str | None = None,
        credential_id: str | None = None,
    ) -> Credential:
        name = check_name("credential", name)
        provider = check_name("provider", provider)
        credential_id = credential_id or new_id("cred")
        now = utcnow()
        sealed = self._envelope_row(await self._primary(secret), project_id, credential_id, 1, secret, reference)
        kind = secret.kind if secret is not None else "text"
        try:
            async with self._db.session() as session, session.begin():
                if await session.get(ProjectRow, project_id) is None:
                    raise NotFound(f"project {project_id!r} not found")
                session.add(
                    CredentialRow(
                        id=credential_id,
                        project_id=project_id,
                        name=name,
                        provider=provider,
                        kind=kind,
                        state=ACTIVE,
                        overlap_seconds=overlap_seconds,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await session.flush()  # the parent row first: SQLite and PostgreSQL check the foreign key
                session.add(_version_row(credential_id, 1, sealed, verification, now))
        except IntegrityError:
            raise Conflict(f"a credential named {name!r} already exists in this project") from None
        return await self.get(project_id, credential_id)

    @translate_errors
    async def add_version(
        self,
        project_id: str,
        credential_id: str,
        secret: Secret | None,
        verification: Verification,
        overlap_seconds: int | None = None,
        reference: str | None = None,
    ) -> Credential:
        """A new version; the versions still valid stay valid for the overlap window, then retire."""
        now = utcnow()
        primary = await self._primary(secret)
        async with self._db.session() as session, session.begin():
            row = await session.scalar(_owned(project_id, credential_id).with_for_update())
            if row is None:
                raise _not_found(credential_id)
            if secret is not None and secret.kind != row.kind:
                raise ValidationFailed(f"secret: this credential holds {row.kind} secrets", param="secret")
            latest = await session.scalar(
                select(func.max(CredentialVersionRow.version)).where(CredentialVersionRow.credential_id == row.id)
            )
            version = int(latest or 0) + 1
            overlap = row.overlap_seconds if overlap_seconds is None else overlap_seconds
            sealed = self._envelope_row(primary, project_id, row.id, version, secret, reference)
            ends = now + timedelta(seconds=overlap)
            await session.execute(
                update(CredentialVersionRow)
                .where(
                    CredentialVersionRow.credential_id == row.id,
                    or_(CredentialVersionRow.not_after.is_(None), CredentialVersionRow.not_after > ends),
                )
                .values(not_after=ends)
            )
            session.add(_version_row(row.id, version, sealed, verification, now))
            row.updated_at = now
        return await self.get(project_id, credential_id)

    @translate_errors
    async def get(self, project_id: str | None, credential_id: str) -> Credential:
        """One credential with its versions; ``project_id`` None only for the operator (CLI)."""
        async with self._db.session() as session:
            query = _owned(project_id, credential_id) if project_id else _any(credential_id)
            row = await session.scalar(query)
            if row is None:
                raise _not_found(credential_id)
            versions = await session.scalars(_versions_of([row.id]))
            return _credential(row, list(versions))

    @translate_errors
    async def list(self, project_id: str | None) -> Sequence[Credential]:
        async with self._db.session() as session:
            query = select(CredentialRow).order_by(CredentialRow.name)
            if project_id is not None:
                query = query.where(CredentialRow.project_id == project_id)
            rows = list(await session.scalars(query))
            versions = list(await session.scalars(_versions_of([r.id for r in rows]))) if rows else []
        by_credential: dict[str, list[CredentialVersionRow]] = {}
        for version in versions:
            by_credential.setdefault(version.credential_id, []).append(version)
        return [_credential(row, by_credential.get(row.id, [])) for row in rows]

    @translate_errors
    async def set_state(self, project_id: str | None, credential_id: str, state: str) -> Credential:
        async with self._db.session() as session, session.begin():
            query = _owned(project_id, credential_id) if project_id else _any(credential_id)
            row = await session.scalar(query.with_for_update())
            if row is None:
                raise _not_found(credential_id)
            row.state = state
            row.updated_at = utcnow()
        return await self.get(project_id, credential_id)

    @translate_errors
    async def delete(self, project_id: str | None, credential_id: str) -> Credential:
        found = await self.get(project_id, credential_id)
        async with self._db.session() as session, session.begin():
            row = await session.get(CredentialRow, found.id)
            if row is not None:
                await session.delete(row)  # versions go with it (ON DELETE CASCADE)
        return found

    @translate_errors
    async def record_verification(self, credential_id: str, version: int, verification: Verification) -> None:
        async with self._db.session() as session, session.begin():
            await session.execute(
                update(CredentialVersionRow)
                .where(CredentialVersionRow.credential_id == credential_id, CredentialVersionRow.version == version)
                .values(
                    verification=verification.status,
                    verification_detail=_clip(verification.detail),
                    verified_at=utcnow(),
                )
            )

    @translate_errors
    async def load(self, credential_id: str, version: int | None = None) -> tuple[CredentialRow, LoadedSecret]:
        """The newest valid version (or ``version``) of a credential, decrypted.

        Raises NotFound for an unknown id, CredentialError when no version is valid any more, and
        DecryptionFailed (naming the row and the reason) when the envelope cannot be opened.
        """
        now = utcnow()
        async with self._db.session() as session:
            row = await session.scalar(_any(credential_id))
            if row is None:
                raise _not_found(credential_id)
            query = select(CredentialVersionRow).where(CredentialVersionRow.credential_id == credential_id)
            if version is None:
                query = query.where(or_(CredentialVersionRow.not_after.is_(None), CredentialVersionRow.not_after > now))
            else:
                query = query.where(CredentialVersionRow.version == version)
            stored = await session.scalar(query.order_by(CredentialVersionRow.version.desc()).limit(1))
        if stored is None:
            raise CredentialError(f"credential {credential_id} has no valid version")
        value = None
        if stored.reference is None:
            value = (await self._open(row.project_id, stored)).decode("utf-8")
        return row, LoadedSecret(
            credential_id, row.project_id, stored.version, row.kind, value, stored.reference, stored.not_after
        )

    async def _open(self, project_id: str, stored: CredentialVersionRow) -> bytes:
        address = crypto.RowAddress(project_id, stored.credential_id, stored.version)
        if stored.master_key_id is None or stored.wrapped_key is None or stored.ciphertext is None:
            raise CredentialError(f"{address.describe()}: no stored secret")
        envelope = crypto.Envelope(stored.master_key_id, stored.wrapped_key, stored.ciphertext)
        try:
            return crypto.decrypt(await self.ring.key(stored.master_key_id), address, envelope)
        except DecryptionFailed as exc:
            exc.message = (
                f"{address.describe()}: {exc.message}" if not exc.message.startswith("credential") else exc.message
            )
            exc.details = {
                "credential_id": stored.credential_id,
                "version": stored.version,
                "master_key_id": stored.master_key_id,
            }
            raise

    # -- master-key rotation support ----------------------------------------------------------
    @translate_errors
    async def envelopes_not_under(self, master_key_id: str, after_id: int, limit: int) -> EnvelopeBatch:
        """A batch of envelopes wrapped by any other master key, in row order after ``after_id``."""
        query = (
            select(CredentialVersionRow, CredentialRow.project_id)
            .join(CredentialRow, CredentialRow.id == CredentialVersionRow.credential_id)
            .where(
                CredentialVersionRow.id > after_id,
                CredentialVersionRow.master_key_id.is_not(None),
                CredentialVersionRow.master_key_id != master_key_id,
            )
            .order_by(CredentialVersionRow.id)
            .limit(limit)
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        batch = []
        for version, project_id in rows:
            assert version.master_key_id is not None and version.wrapped_key is not None
            address = crypto.RowAddress(project_id, version.credential_id, version.version)
            batch.append(
                (
                    version.id,
                    address,
                    crypto.Envelope(version.master_key_id, version.wrapped_key, version.ciphertext or b""),
                )
            )
        return batch

    @translate_errors
    async def replace_envelopes(self, changes: Sequence[tuple[int, str, crypto.Envelope]]) -> int:
        """Store re-wrapped data keys in one transaction; a row changed meanwhile is left alone."""
        replaced = 0
        async with self._db.session() as session, session.begin():
            for row_id, old_key_id, envelope in changes:
                result = await session.execute(
                    update(CredentialVersionRow)
                    .where(and_(CredentialVersionRow.id == row_id, CredentialVersionRow.master_key_id == old_key_id))
                    .values(master_key_id=envelope.master_key_id, wrapped_key=envelope.wrapped_key)
                )
                replaced += result.rowcount or 0  # type: ignore[attr-defined]
        return replaced

    @translate_errors
    async def count_by_master_key(self) -> dict[str, int]:
        query = (
            select(CredentialVersionRow.master_key_id, func.count())
            .where(CredentialVersionRow.master_key_id.is_not(None))
            .group_by(CredentialVersionRow.master_key_id)
        )
        async with self._db.session() as session:
            return {str(key_id): int(count) for key_id, count in (await session.execute(query)).all()}


def _owned(project_id: str | None, credential_id: str) -> Any:
    return select(CredentialRow).where(CredentialRow.id == credential_id, CredentialRow.project_id == project_id)


def _any(credential_id: str) -> Any:
    return select(CredentialRow).where(CredentialRow.id == credential_id)


def _versions_of(credential_ids: list[str]) -> Any:
    return (
        select(CredentialVersionRow)
        .where(CredentialVersionRow.credential_id.in_(credential_ids))
        .order_by(CredentialVersionRow.credential_id, CredentialVersionRow.version.desc())
    )


def _not_found(credential_id: str) -> NotFound:
    # The same answer whether the id does not exist or belongs to another project.
    return NotFound(f"credential {credential_id!r} not found")


def _clip(text: str | None) -> str | None:
    return text[:500] if text is not None and len(text) > 500 else text


def _version_row(
    credential_id: str, version: int, sealed: dict[str, Any], verification: Verification, now: datetime
) -> CredentialVersionRow:
    return CredentialVersionRow(
        credential_id=credential_id,
        version=version,
        verification=verification.status,
        verification_detail=_clip(verification.detail),
        verified_at=now if verification.status in ("valid", "rejected") else None,
        created_at=now,
        **sealed,
    )


def _credential(row: CredentialRow, versions: list[CredentialVersionRow]) -> Credential:
    return Credential(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        provider=row.provider,
        kind=row.kind,
        state=row.state,
        overlap_seconds=row.overlap_seconds,
        created_at=row.created_at,
        updated_at=row.updated_at,
        versions=tuple(
            CredentialVersion(
                version=v.version,
                master_key_id=v.master_key_id,
                reference=v.reference,
                hint=v.hint,
                verification=v.verification,
                verification_detail=v.verification_detail,
                verified_at=v.verified_at,
                created_at=v.created_at,
                not_after=v.not_after,
            )
            for v in sorted(versions, key=lambda v: v.version, reverse=True)
        ),
    )
