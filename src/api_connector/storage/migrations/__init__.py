"""Alembic migrations, run programmatically by ``Database.migrate()`` (no alembic.ini needed).

The script location is this package's directory, so migrations run the same from a source checkout
and from an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent
# A table name of our own: the service may share a PostgreSQL database with other Alembic users.
VERSION_TABLE = "api_connector_alembic_version"
