"""Observability: hourly usage roll-ups beside the per-minute ones, filled from them.

Queries over long ranges read whole hours from here and only the partial hours at either end from the
minute table (30 days x 3 providers: 129,600 minute rows became 2,160 hour rows). Hand-written and
frozen like 0001 (no import of the models).

Revision ID: 0006_hourly_rollups
Revises: 0005_limits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_hourly_rollups"
down_revision = "0005_limits"
branch_labels = None
depends_on = None

_SUMS = (
    "sum(requests), sum(errors), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), "
    "sum(cost_usd), sum(latency_ms_sum), max(latency_ms_max)"
)
_COLUMNS = (
    "project_id, hour, provider, model, capability, requests, errors, prompt_tokens, completion_tokens, "
    "cached_tokens, cost_usd, latency_ms_sum, latency_ms_max"
)


def upgrade() -> None:
    op.create_table(
        "usage_rollups_hourly",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
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
            "project_id", "hour", "provider", "model", "capability", name="pk_usage_rollups_hourly"
        ),
    )
    op.create_index("ix_usage_rollups_hourly_hour", "usage_rollups_hourly", ["hour"])
    # The hour each minute row falls in, in UTC (PostgreSQL: whatever the session's time zone; SQLite:
    # the text format SQLAlchemy stores datetimes in).
    if op.get_bind().dialect.name == "postgresql":
        hour = "date_trunc('hour', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    else:
        hour = "strftime('%Y-%m-%d %H:00:00.000000', minute)"
    op.execute(
        f"INSERT INTO usage_rollups_hourly ({_COLUMNS}) "
        f"SELECT project_id, {hour}, provider, model, capability, {_SUMS} "
        "FROM usage_rollups GROUP BY 1, 2, 3, 4, 5"
    )


def downgrade() -> None:
    op.drop_index("ix_usage_rollups_hourly_hour", table_name="usage_rollups_hourly")
    op.drop_table("usage_rollups_hourly")
