"""Initial schema: tenancy, gateway keys, provider instances, usage and audit records.

Hand-written and frozen: it does not import ``models`` (which will keep changing), and it uses only
types that exist on both SQLite and PostgreSQL.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(64), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "organizations",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("name", name="uq_organizations_name"),
    )
    op.create_table(
        "projects",
        _id(),
        _id("organization_id"),
        sa.Column("name", sa.String(255), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_projects_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("organization_id", "name", name="uq_projects_organization_id_name"),
    )
    op.create_index("ix_projects_organization_id", "projects", ["organization_id"])
    op.create_table(
        "gateway_keys",
        _id(),
        _id("project_id", nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", _JSON, nullable=False),
        _ts("created_at"),
        _ts("last_used_at", nullable=True),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_keys"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_gateway_keys_project_id_projects", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("key_hash", name="uq_gateway_keys_key_hash"),
    )
    op.create_index("ix_gateway_keys_project_id", "gateway_keys", ["project_id"])
    op.create_table(
        "provider_instances",
        _id(),
        _id("project_id"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("config", _JSON, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_provider_instances"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_provider_instances_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("project_id", "name", name="uq_provider_instances_project_id_name"),
    )
    _create_record_tables()


def _create_record_tables() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", _BIGINT_PK, nullable=False, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        _id("project_id"),
        _id("key_id", nullable=True),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("capability", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_usage_records"),
    )
    op.create_index("ix_usage_records_project_id_created_at", "usage_records", ["project_id", "created_at"])
    op.create_index("ix_usage_records_created_at", "usage_records", ["created_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", _BIGINT_PK, nullable=False, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        _id("actor_key_id", nullable=True),
        _id("project_id", nullable=True),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("target_type", sa.String(64), nullable=False),
        sa.Column("target_id", sa.String(255), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("details", _JSON, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_project_id_created_at", "audit_events", ["project_id", "created_at"])
    op.create_index("ix_audit_events_created_at", "audit_events", ["created_at"])


def downgrade() -> None:
    for table in (
        "audit_events",
        "usage_records",
        "provider_instances",
        "gateway_keys",
        "projects",
        "organizations",
    ):
        op.drop_table(table)
