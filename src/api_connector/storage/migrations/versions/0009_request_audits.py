"""Request audit: the caller's address on usage rows, and a row of sanitized bodies where a project asks.

A request's metadata is its usage row; the audit adds ``usage_records.client`` (metadata and sanitized
modes) and, in sanitized mode only, a ``request_audits`` row with the bodies, joined to its usage row on
(project_id, request_id, created_at).

Hand-written and frozen like 0001 (no import of the models).

Revision ID: 0009_request_audits
Revises: 0008_stored_responses
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_request_audits"
down_revision = "0008_stored_responses"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "request_audits",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("request_type", sa.String(128), nullable=True),
        sa.Column("request_bytes", sa.BigInteger(), nullable=True),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("request_truncated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("response_type", sa.String(128), nullable=True),
        sa.Column("response_bytes", sa.BigInteger(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("response_truncated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_request_audits"),
    )
    op.add_column("usage_records", sa.Column("client", sa.String(64), nullable=True))
    op.create_index("ix_request_audits_project_id_created_at", "request_audits", ["project_id", "created_at"])
    op.create_index("ix_request_audits_expires_at", "request_audits", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_request_audits_expires_at", table_name="request_audits")
    op.drop_index("ix_request_audits_project_id_created_at", table_name="request_audits")
    op.drop_table("request_audits")
    with op.batch_alter_table("usage_records") as batch:  # SQLite drops a column by rebuilding the table
        batch.drop_column("client")
