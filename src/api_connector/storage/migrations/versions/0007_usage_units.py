"""Metering by unit: characters, audio seconds, pages, rows and searches beside the tokens.

Usage rows and both roll-up tables gain one column per unit. The token columns keep their wave-one
names (``prompt_tokens``/``completion_tokens``/``cached_tokens`` hold input, output and cached input
tokens): renaming them would rewrite every row and break replicas still writing the old columns during
a rolling upgrade. The new columns are NOT NULL with a server default of 0, which fills the existing
rows (they were all token-metered) and the rows older replicas go on inserting; adding such a column
rewrites nothing on either backend (PostgreSQL 11+ keeps a constant default in the catalog, SQLite
appends it to the table's definition), so the upgrade is quick on a large table. Only the downgrade
needs SQLite's batch mode (dropping a column rebuilds the table there).

Hand-written and frozen like 0001 (no import of the models).

Revision ID: 0007_usage_units
Revises: 0006_hourly_rollups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_usage_units"
down_revision = "0006_hourly_rollups"
branch_labels = None
depends_on = None

_TABLES = ("usage_records", "usage_rollups", "usage_rollups_hourly")


def _units() -> list[sa.Column]:
    # Fresh Column objects per table: a Column belongs to the one table it is added to.
    return [
        sa.Column("characters", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("audio_seconds", sa.Float(), nullable=False, server_default=sa.text("0")),
        sa.Column("pages", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("rows", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("searches", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    ]


def upgrade() -> None:
    for table in _TABLES:
        for column in _units():
            op.add_column(table, column)


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table) as batch:
            for column in reversed(_units()):
                batch.drop_column(column.name)
