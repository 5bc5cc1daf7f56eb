"""Persistent state behind small interfaces: SQLite by default, PostgreSQL by URL.

``db.Database`` owns the engine and migrations; the stores (``tenancy``, ``keys``, ``provider_store``)
return plain frozen dataclasses from ``records``; ``record_writer`` batches usage and audit rows off the
request path and ``queries`` reads them back. This package imports nothing eagerly so that any module
can depend on ``storage.records`` without pulling in the engine.
"""
