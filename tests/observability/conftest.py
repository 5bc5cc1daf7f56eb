"""Fixtures of the observability tests: the storage tests' SQLite/PostgreSQL database."""

from tests.storage.conftest import database  # noqa: F401
