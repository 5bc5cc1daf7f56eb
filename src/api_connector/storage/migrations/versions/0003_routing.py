"""Routing: routes defined through the admin API, and the dead-letter queue.

Hand-written and frozen like 0001 (no import of the models).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(64), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "routes",
        _id(),
        _id("project_id"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("config", _JSON, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_routes"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_routes_project_id_projects", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("project_id", "name", name="uq_routes_project_id_name"),
    )
    op.create_table(
        "dead_letters",
        _id(),
        sa.Column("request_id", sa.String(128), nullable=False),
        _id("project_id"),
        _id("key_id", nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("capability", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("error_message", sa.String(1024), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("attempts", _JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("replays", sa.Integer(), nullable=False),
        _ts("last_replay_at", nullable=True),
        sa.Column("last_replay_outcome", sa.String(64), nullable=True),
        sa.Column("last_replay_request_id", sa.String(128), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_project_id_created_at", "dead_letters", ["project_id", "created_at"])
    op.create_index("ix_dead_letters_created_at", "dead_letters", ["created_at"])


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("routes")
