"""The store of Responses API answers: per project, replaced by id, expiring, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from api_connector.storage.db import Database
from api_connector.storage.models import utcnow
from api_connector.storage.response_models import StoredResponseRow
from api_connector.storage.response_store import ResponseStore

ITEMS = [{"type": "message", "role": "user", "content": "hello"}]
ANSWER = {"id": "resp_1", "object": "response", "output": [{"type": "message", "content": []}]}


async def test_a_response_is_kept_for_its_project_only(database: Database) -> None:
    store = ResponseStore(database, days=30)
    await store.put("proj_a", "key_a", "resp_1", "sandbox-chat", ITEMS, ANSWER)
    kept = await store.get("proj_a", "resp_1")
    assert kept is not None and kept.input == ITEMS and kept.response == ANSWER
    assert await store.get("proj_b", "resp_1") is None
    assert not await store.delete("proj_b", "resp_1")
    assert await store.get("proj_a", "resp_1") is not None
    assert await store.delete("proj_a", "resp_1")
    assert await store.get("proj_a", "resp_1") is None
    assert not await store.delete("proj_a", "resp_1")


async def test_the_same_id_in_two_projects_is_two_responses(database: Database) -> None:
    store = ResponseStore(database, days=30)
    await store.put("proj_a", None, "resp_1", "m", ITEMS, ANSWER)
    await store.put("proj_b", None, "resp_1", "m", [], {**ANSWER, "output": []})
    a, b = await store.get("proj_a", "resp_1"), await store.get("proj_b", "resp_1")
    assert a is not None and b is not None and a.input == ITEMS and b.input == []


async def test_keeping_an_id_again_replaces_it(database: Database) -> None:
    """A cached answer comes back with the id it had: kept again, it replaces the row."""
    store = ResponseStore(database, days=30)
    await store.put("proj_a", None, "resp_1", "m", ITEMS, ANSWER)
    await store.put("proj_a", None, "resp_1", "m", [*ITEMS, *ITEMS], ANSWER)
    kept = await store.get("proj_a", "resp_1")
    assert kept is not None and len(kept.input) == 2


async def test_expired_responses_are_not_read_and_are_swept_by_a_later_write(database: Database) -> None:
    store = ResponseStore(database, days=1)
    await store.put("proj_a", None, "resp_old", "m", ITEMS, ANSWER)
    async with database.session() as session, session.begin():
        await session.execute(update(StoredResponseRow).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await store.get("proj_a", "resp_old") is None
    # A store sweeps on its first write, then at most every ten minutes: a fresh one (a restart) sweeps now.
    await ResponseStore(database, days=1).put("proj_a", None, "resp_new", "m", ITEMS, ANSWER)
    async with database.session() as session:
        ids = set(await session.scalars(select(StoredResponseRow.id)))
        count = await session.scalar(select(func.count()).select_from(StoredResponseRow))
    assert ids == {"resp_new"} and count == 1
