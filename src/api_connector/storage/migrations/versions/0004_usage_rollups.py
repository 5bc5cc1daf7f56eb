"""Observability: per-minute usage roll-ups and the roll-up job's watermark.

Hand-written and frozen like 0001 (no import of the models).

Revision ID: 0004_usage_rollups
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_usage_rollups"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("capability", sa.String(64), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.Column("latency_ms_max", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "project_id", "minute", "provider", "model", "capability", name="pk_usage_rollups"
        ),
    )
    op.create_index("ix_usage_rollups_minute", "usage_rollups", ["minute"])
    op.create_table(
        "rollup_watermarks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rollup_watermarks"),
    )


def downgrade() -> None:
    op.drop_table("rollup_watermarks")
    op.drop_index("ix_usage_rollups_minute", table_name="usage_rollups")
    op.drop_table("usage_rollups")
