"""Persistent state behind small interfaces: SQLite by default, PostgreSQL by URL.

``db.Database`` owns the engine and migrations; the stores (``tenancy``, ``keys``, ``provider_store``)
return plain frozen dataclasses from ``records``; ``record_writer`` batches usage and audit rows off the
request path and ``queries`` reads them back. What replicas share lives in Redis when configured:
``redis`` opens the client, ``shared_state`` keeps small values, counters and locks, and one
``*_scripts`` module per Redis-backed store (limits, budgets, breakers, cache) holds its keys and Lua
scripts; no code outside this package talks to Redis. This package imports nothing eagerly so that any
module can depend on ``storage.records`` without pulling in the engine.
"""
