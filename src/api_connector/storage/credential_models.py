"""Tables of the credential vault: the master-key ring, credentials and their versions.

Imported at the end of ``storage.models`` so that ``Base.metadata`` (Alembic, the schema test, the
test fixtures) always knows these tables. No column ever holds a secret in plaintext: versions carry
an AES-256-GCM envelope (``credentials.crypto``) and the id of the master key that wrapped it, or a
reference to an external store (``vault:...``, ``aws:...``, ``env:...``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api_connector.storage.models import ID_LEN, NAME_LEN, Base, BigIntPK, UTCDateTime

REFERENCE_LEN = 1024


class MasterKeyRow(Base):
    """One key of the ring, wrapped by a root key. The newest key that is not retired is the primary."""

    __tablename__ = "master_keys"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    root_key_id: Mapped[str] = mapped_column(String(ID_LEN))
    # NULL once retired: the key material is destroyed, and rows still under it are reported.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CredentialRow(Base):
    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    provider: Mapped[str] = mapped_column(String(NAME_LEN))  # a provider type or instance name
    kind: Mapped[str] = mapped_column(String(16))  # "text" or "json" (service-account JSON)
    state: Mapped[str] = mapped_column(String(16))  # "active" or "disabled"
    overlap_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CredentialVersionRow(Base):
    __tablename__ = "credential_versions"
    __table_args__ = (UniqueConstraint("credential_id", "version"),)

    # An integer key so that master-key rotation can walk every row in order, in batches.
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    credential_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("credentials.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    master_key_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    reference: Mapped[str | None] = mapped_column(String(REFERENCE_LEN))
    hint: Mapped[str | None] = mapped_column(String(8))  # last four characters, for masked listings
    verification: Mapped[str] = mapped_column(String(64))
    verification_detail: Mapped[str | None] = mapped_column(String(512))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # NULL: valid until a newer version replaces it; then the end of its overlap window.
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
