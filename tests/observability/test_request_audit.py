"""The request audit end to end: a real gateway, a real upstream, rows read back over the admin API.

Each mode (none, metadata, sanitized); secrets from the vault and from an environment reference masked
in stored bodies; configured fields redacted; bodies cut to size; a streamed chat kept as its assembled
text; the filters; project isolation of reads and erasures; erasure audited; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import delete, func, select, update
from tests.gateway import ADMIN_KEY, RunningGateway, run_gateway
from tests.observability.audit_upstream import audit_upstream
from tests.waiting import wait_for

from api_connector.observability.redaction import MASK
from api_connector.storage.db import Database
from api_connector.storage.models import UsageRow
from api_connector.storage.request_audit_models import RequestAuditRow

ENV_SECRET = "envsecret-9c4f1a7e2b6d"
VAULT_SECRET = "vaultsecret-3e8b0d5a1f7c"
SCOPES = ["admin", "inference", "requests"]


async def _no_request_audits(url: str) -> None:
    database = Database(url)
    try:
        await database.migrate()
        async with database.engine.begin() as connection:
            await connection.execute(delete(RequestAuditRow))
            await connection.execute(update(UsageRow).values(client=None))
    finally:
        await database.close()


async def _bodies_rows(url: str) -> int:
    database = Database(url)
    try:
        async with database.engine.begin() as connection:
            return int(await connection.scalar(select(func.count()).select_from(RequestAuditRow)) or 0)
    finally:
        await database.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file of the test's own, or the session's PostgreSQL database without request audit rows
    or caller addresses (the default project is shared there by every gateway of the session)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'apc.db'}"
    url = str(request.getfixturevalue("postgres_url"))
    asyncio.run(_no_request_audits(url))
    return url


def _config(upstream: str, audit: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "providers": {"up": {"type": "openai_compatible", "base_url": upstream, "credential": "env:AUDIT_ENV_SECRET"}}
    }
    if audit is not None:
        config["audit"] = audit
    return config


@contextmanager
def _gateway(
    tmp_path: Path, database_url: str, audit: dict[str, Any] | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningGateway]:
    monkeypatch.setenv("AUDIT_ENV_SECRET", ENV_SECRET)
    with audit_upstream() as upstream, run_gateway(tmp_path, _config(upstream, audit), database_url=database_url) as gw:
        yield gw


def _call(gw: RunningGateway, method: str, path: str, key: str = ADMIN_KEY, **kw: Any) -> httpx.Response:
    return httpx.request(method, gw.base_url + path, headers=gw.headers(key), timeout=30, **kw)


def _chat(gw: RunningGateway, content: str, key: str = ADMIN_KEY, model: str = "up/m", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return _call(gw, "POST", "/v1/chat/completions", key, json=body)


def _rows(gw: RunningGateway, key: str = ADMIN_KEY, **query: str) -> list[dict[str, Any]]:
    answer = _call(gw, "GET", "/admin/audit/requests", key, params=query)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


def _written(gw: RunningGateway, count: int, key: str = ADMIN_KEY, **query: str) -> list[dict[str, Any]]:
    wait_for(lambda: len(_rows(gw, key, **query)) >= count, f"{count} request audit rows")
    return _rows(gw, key, **query)


def _project_key(gw: RunningGateway, name: str) -> tuple[str, str, str]:
    """A new project with an admin key of its own: (project id, key, key id)."""
    org = _call(gw, "POST", "/admin/organizations", json={"name": f"{name}-org"}).json()
    project = _call(gw, "POST", "/admin/projects", json={"organization_id": org["id"], "name": name}).json()
    key = _call(gw, "POST", "/admin/keys", json={"name": name, "scopes": SCOPES, "project_id": project["id"]}).json()
    return project["id"], key["key"], key["id"]


def test_metadata_is_the_default_and_keeps_no_body(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _gateway(tmp_path, database_url, None, monkeypatch) as gw:
        assert _chat(gw, "hello there").status_code == 200
        request_id = _chat(gw, "second").headers["x-request-id"]
        row = _written(gw, 2)[0]
    assert row["request_id"] == request_id
    assert row["payloads"] == "metadata" and row["request"] is None and row["response"] is None
    assert asyncio.run(_bodies_rows(database_url)) == 0  # one row per request: the usage row, with the address
    assert (row["provider"], row["model"], row["capability"], row["status"]) == ("up", "m", "chat", "success")
    assert row["client"] == "127.0.0.1" and row["key_id"]
    assert row["expires_at"] > row["created_at"]


def test_none_keeps_no_row(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _gateway(tmp_path, database_url, {"payloads": "none"}, monkeypatch) as gw:
        request_id = _chat(gw, "hello").headers["x-request-id"]
        usage = lambda: [r for r in _call(gw, "GET", "/admin/usage").json()["data"] if r["request_id"] == request_id]  # noqa: E731
        wait_for(lambda: bool(usage()), "the usage row (the one the request audit would list)")
        assert _rows(gw) == []
        assert asyncio.run(_bodies_rows(database_url)) == 0


def test_sanitized_masks_secrets_from_the_vault_and_the_environment(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _gateway(tmp_path, database_url, {"payloads": "sanitized"}, monkeypatch) as gw:
        credential = {"name": "second-account", "provider": "up", "secret": VAULT_SECRET, "verify": False}
        created = _call(gw, "POST", "/admin/credentials", json=credential)
        assert created.status_code == 201, created.text
        route = {"targets": [{"provider": "up", "model": "m", "credential": created.json()["id"]}]}
        assert _call(gw, "PUT", "/admin/routes/vaulted", json=route).status_code in (200, 201)
        said = f"keys {ENV_SECRET} and {VAULT_SECRET} and sk-live-0123456789abcdef please"
        assert _chat(gw, said, model="vaulted").status_code == 200
        assert _chat(gw, said).status_code == 200  # through the instance: its env: credential
        rows = _written(gw, 2)
    for row in rows:
        request, response = row["request"], row["response"]
        assert row["payloads"] == "sanitized"
        assert request["type"] == response["type"] == "application/json"
        for stored in (request["body"], response["body"]):
            assert ENV_SECRET not in stored and VAULT_SECRET not in stored and "sk-live-0123456789abcdef" not in stored
            assert stored.count(MASK) == 3 and "please" in stored
        assert orjson.loads(request["body"])["messages"][0]["role"] == "user"
        assert request["bytes"] > len(request["body"]) - 3 * len(MASK)  # the size as it was sent


def test_configured_fields_are_redacted_in_requests_and_answers(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = {"payloads": "sanitized", "redact": ["messages[*].content", "choices[*].message.content"]}
    with _gateway(tmp_path, database_url, audit, monkeypatch) as gw:
        assert _chat(gw, "my private diagnosis", temperature=0.5).status_code == 200
        row = _written(gw, 1)[0]
    request, response = orjson.loads(row["request"]["body"]), orjson.loads(row["response"]["body"])
    assert request["messages"] == [{"role": "user", "content": MASK}] and request["temperature"] == 0.5
    assert response["choices"][0]["message"] == {"role": "assistant", "content": MASK}
    assert "diagnosis" not in row["request"]["body"] + row["response"]["body"]


def test_bodies_are_cut_to_max_body_bytes(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    audit = {"payloads": "sanitized", "max_body_bytes": 256}
    with _gateway(tmp_path, database_url, audit, monkeypatch) as gw:
        assert _chat(gw, "é" * 400).status_code == 200  # two bytes a character: the cut must not split one
        row = _written(gw, 1)[0]
    for side in ("request", "response"):
        body = row[side]
        assert body["truncated"] is True and body["bytes"] > 800
        assert 250 <= len(body["body"].encode()) <= 256


def test_a_streamed_chat_is_kept_as_its_assembled_text(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _gateway(tmp_path, database_url, {"payloads": "sanitized"}, monkeypatch) as gw:
        streamed = _chat(gw, f"tell {ENV_SECRET} a long story", stream=True)
        assert streamed.status_code == 200 and "[DONE]" in streamed.text
        row = _written(gw, 1)[0]
    answer = orjson.loads(row["response"]["body"])
    assert answer["object"] == "chat.completion" and "chunk" not in row["response"]["body"]
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": f"echo: tell {MASK} a long story"},
            "finish_reason": "stop",
        }
    ]
    assert row["response"]["bytes"] > len(row["response"]["body"])  # the chunks as they went out were larger
    assert orjson.loads(row["request"]["body"])["stream"] is True


def test_filters_by_key_provider_status_and_time(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _gateway(tmp_path, database_url, None, monkeypatch) as gw:
        default = gw.services.default_project_id
        created = _call(gw, "POST", "/admin/keys", json={"name": "second", "scopes": SCOPES, "project_id": default})
        second, second_id = created.json()["key"], created.json()["id"]
        assert _chat(gw, "one").status_code == 200
        assert _chat(gw, "two", key=second).status_code == 200
        assert _chat(gw, "three", model="up/broken").status_code >= 500
        assert _chat(gw, "four", model="sandbox/sandbox-chat").status_code == 200
        rows = _written(gw, 4)
        assert [r["key_id"] for r in _rows(gw, key_id=second_id)] == [second_id]
        assert {r["provider"] for r in _rows(gw, provider="sandbox")} == {"sandbox"}
        errors = _rows(gw, status="error")
        assert len(errors) == 1 and errors[0]["error_code"] and errors[0]["provider"] == "up"
        oldest, newest = rows[-1]["created_at"], rows[0]["created_at"]
        assert len(_rows(gw, since=newest)) >= 1 and len(_rows(gw, until=oldest)) == 0
        assert len(_rows(gw, since=oldest, limit="2")) == 2
        assert _call(gw, "GET", "/admin/audit/requests", params={"status": "maybe"}).status_code == 400
        assert _call(gw, "GET", "/admin/audit/requests", params={"since": "yesterday"}).status_code == 400


def test_a_project_neither_reads_nor_erases_another_projects_rows(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _gateway(tmp_path, database_url, {"payloads": "sanitized"}, monkeypatch) as gw:
        project_a, key_a, key_id_a = _project_key(gw, "alpha")
        _, key_b, _ = _project_key(gw, "beta")
        assert _chat(gw, "alpha's secret plan", key=key_a, model="sandbox/sandbox-chat").status_code == 200
        assert _chat(gw, "beta's own", key=key_b, model="sandbox/sandbox-chat").status_code == 200
        assert len(_written(gw, 1, key_a)) == 1 and len(_written(gw, 1, key_b)) == 1
        seen_by_b = _rows(gw, key_b) + _rows(gw, key_b, key_id=key_id_a)
        assert all("alpha" not in str(row) and row["key_id"] != key_id_a for row in seen_by_b)
        for query in ({"project": project_a}, {"scope": "all"}):
            assert _call(gw, "GET", "/admin/audit/requests", key_b, params=query).status_code == 403
            erasing = {**query, "key_id": key_id_a}
            assert _call(gw, "DELETE", "/admin/audit/requests", key_b, params=erasing).status_code == 403
        erased = _call(gw, "DELETE", "/admin/audit/requests", key_b, params={"key_id": key_id_a})
        assert erased.status_code == 200 and erased.json() == {"deleted": 0}
        assert len(_rows(gw, key_a)) == 1
        assert len(_rows(gw, ADMIN_KEY, scope="all", key_id=key_id_a)) == 1  # a global admin reads every project


def test_erasure_by_key_and_time_is_itself_audited(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _gateway(tmp_path, database_url, {"payloads": "sanitized"}, monkeypatch) as gw:
        project, key, key_id = _project_key(gw, "gamma")
        for text in ("first", "second"):
            assert _chat(gw, text, key=key, model="sandbox/sandbox-chat").status_code == 200
        assert _chat(gw, "the admin's", model="sandbox/sandbox-chat").status_code == 200
        assert len(_written(gw, 2, key)) == 2
        assert _call(gw, "DELETE", "/admin/audit/requests", key).status_code == 400  # never "everything" by omission
        erased = _call(gw, "DELETE", "/admin/audit/requests", key, params={"key_id": key_id})
        assert erased.status_code == 200 and erased.json() == {"deleted": 2}
        assert _rows(gw, key) == []
        assert _written(gw, 1)  # the default project's row is untouched
        events = lambda: _call(gw, "GET", "/admin/audit", key, params={"action": "request_audit.erase"}).json()["data"]  # noqa: E731
        wait_for(lambda: bool(events()), "the erasure's audit event")
        event = events()[0]
        assert (event["project_id"], event["target_id"], event["actor_key_id"]) == (project, key_id, key_id)
        assert event["details"]["deleted"] == 2 and event["details"]["client"] == "127.0.0.1"
        # By time: everything of the default project up to a time, as a global admin.
        erased = _call(gw, "DELETE", "/admin/audit/requests", params={"until": "2100-01-01T00:00:00Z"})
        assert erased.status_code == 200 and erased.json()["deleted"] == 1
        assert _rows(gw) == []
