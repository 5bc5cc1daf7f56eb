"""Governance: caller limits set through the admin API; usage rows say when an answer came from the
response cache or from another request's upstream call (coalescing).

Hand-written and frozen like 0001 (no import of the models).

Revision ID: 0005_limits
Revises: 0004_usage_rollups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_limits"
down_revision = "0004_usage_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "limits",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("requests_per_hour", sa.Integer(), nullable=True),
        sa.Column("tokens_per_minute", sa.Integer(), nullable=True),
        sa.Column("concurrent", sa.Integer(), nullable=True),
        sa.Column("set_by_global", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject_id", name="pk_limits"),
    )
    op.create_index("ix_limits_project_id", "limits", ["project_id"])
    # Existing rows were neither: the server default fills them, and rows written by older replicas.
    op.add_column("usage_records", sa.Column("cached", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("usage_records", sa.Column("coalesced", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("coalesced")
        batch.drop_column("cached")
    op.drop_index("ix_limits_project_id", table_name="limits")
    op.drop_table("limits")
