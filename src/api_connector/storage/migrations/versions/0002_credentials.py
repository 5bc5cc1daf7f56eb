"""Credential vault: master-key ring, credentials, credential versions.

Hand-written and frozen like 0001 (no import of the models).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(64), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "master_keys",
        _id(),
        _id("root_key_id"),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        _ts("created_at"),
        _ts("retired_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_master_keys"),
    )
    op.create_table(
        "credentials",
        _id(),
        _id("project_id"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("overlap_seconds", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_credentials_project_id_projects", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("project_id", "name", name="uq_credentials_project_id_name"),
    )
    op.create_index("ix_credentials_project_id", "credentials", ["project_id"])
    op.create_table(
        "credential_versions",
        sa.Column("id", _BIGINT_PK, nullable=False, autoincrement=True),
        _id("credential_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        _id("master_key_id", nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("reference", sa.String(1024), nullable=True),
        sa.Column("hint", sa.String(8), nullable=True),
        sa.Column("verification", sa.String(64), nullable=False),
        sa.Column("verification_detail", sa.String(512), nullable=True),
        _ts("verified_at", nullable=True),
        _ts("created_at"),
        _ts("not_after", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_credential_versions"),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name="fk_credential_versions_credential_id_credentials",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("credential_id", "version", name="uq_credential_versions_credential_id_version"),
    )
    op.create_index("ix_credential_versions_credential_id", "credential_versions", ["credential_id"])
    op.create_index("ix_credential_versions_master_key_id", "credential_versions", ["master_key_id"])


def downgrade() -> None:
    for table in ("credential_versions", "credentials", "master_keys"):
        op.drop_table(table)
