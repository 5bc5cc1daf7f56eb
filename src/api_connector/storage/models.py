"""SQLAlchemy 2 declarative models; portable between SQLite and PostgreSQL.

These describe the schema that ``migrations/versions`` creates; a test compares the two on both
databases so they cannot drift. Ids are strings with a kind prefix (``org_``, ``proj_``, ``key_``,
``prov_``) so that an id pasted into a log or a ticket says what it is. Usage and audit rows carry no
foreign keys on purpose: they are written in bulk off the request path and must outlive what they
describe.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# Explicit constraint names: future migrations can drop/alter them by name (SQLite batch mode needs it).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigIntPK: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

NAME_LEN = 255
ID_LEN = 64

# The columns of a usage row, and of both roll-ups, that hold what a call used (``core.usage.Unit``).
# The token columns kept their wave-one names: renaming them would rewrite every stored row and break
# older replicas still writing during a rolling upgrade. ``requests`` has no column: each usage row is
# one request, and the roll-ups count them.
METERED = (
    "prompt_tokens",  # input tokens
    "completion_tokens",  # output tokens
    "cached_tokens",  # of the input tokens, those served from the provider's prompt cache
    "characters",
    "audio_seconds",
    "pages",
    "rows",
    "searches",
)


def new_id(kind: str) -> str:
    """``<kind>_<32 hex>``: random, so ids leak nothing about counts or creation order."""
    return f"{kind}_{uuid.uuid4().hex}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored as UTC on every backend.

    SQLite has no timezone type and silently drops tzinfo, so values are normalised to UTC on the way
    in and tagged UTC on the way out; naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OrganizationRow(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProjectRow(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GatewayKeyRow(Base):
    __tablename__ = "gateway_keys"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    # NULL: a global key (with the admin scope it administers every project and organization).
    project_id: Mapped[str | None] = mapped_column(
        String(ID_LEN), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProviderInstanceRow(Base):
    __tablename__ = "provider_instances"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    type: Mapped[str] = mapped_column(String(NAME_LEN))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageRow(Base):
    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_records_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128))
    project_id: Mapped[str] = mapped_column(String(ID_LEN))
    # NULL when no gateway key was involved (the embedded Connector).
    key_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    provider: Mapped[str] = mapped_column(String(NAME_LEN))
    model: Mapped[str] = mapped_column(String(NAME_LEN))
    capability: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    # Input, output and cached input tokens (``Usage.input_tokens``/``output_tokens``/``cached_tokens``);
    # the wave-one names are kept, see METERED.
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cached_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Answered from the response cache (cost 0), or by another identical request's upstream call
    # (coalesced: the leader's tokens, cost counted once on the leader's row).
    cached: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    coalesced: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    # The other units (migration 0007). The server default fills wave-one rows and rows written by
    # replicas not yet upgraded; 64-bit because characters and rows add up fast.
    characters: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, server_default=text("0"), default=0.0)
    pages: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    rows: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    searches: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    # The caller's address, kept by the request audit (migration 0009): NULL when the project's
    # ``audit.payloads`` is none, past its ``retention_days``, after an erasure, or for the embedded Connector.
    client: Mapped[str | None] = mapped_column(String(64))


class AuditRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    request_id: Mapped[str | None] = mapped_column(String(128))
    actor_key_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    project_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    action: Mapped[str] = mapped_column(String(128))
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(NAME_LEN))
    outcome: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


# The vault's tables and the routing layer's (admin routes, dead letters) live in their own modules;
# importing them here puts them in ``Base.metadata``.
from api_connector.storage import (  # noqa: E402,F401
    credential_models,
    limit_models,
    request_audit_models,
    response_models,
    rollup_models,
    routing_models,
)
