"""The dead-letter queue's admin API: list, inspect, replay, delete.

Scoped like every admin read (``api/read_scope.py``): the caller's project; a global admin picks one
with ``x-project-id``, or every project with ``?scope=all``. A replay goes through the whole pipeline
again and answers what happened; the entry keeps the count, time and outcome of its replays. Replays
and deletions are audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from api_connector.api.middleware import Routes
from api_connector.api.read_scope import read_scope
from api_connector.api.render import envelope_error, json_response
from api_connector.api.services import PRINCIPAL, REQUEST_ID, SERVICES, Services
from api_connector.auth.authenticator import Principal
from api_connector.errors import ConnectorError, ValidationFailed
from api_connector.pipeline.replay import replay
from api_connector.storage.dlq import PENDING, REPLAYED, DeadLetter, DeadLetterStore


def _store(services: Services) -> DeadLetterStore:
    if services.routing is None:
        raise ConnectorError("the dead-letter queue is not configured")
    return services.routing.dead_letter_store


def _scope(request: web.Request) -> str | None:
    """The project to look in; None (every project) only for a global admin asking for it."""
    return read_scope(request).project_or_every()


def view(entry: DeadLetter, full: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": entry.id,
        "request_id": entry.request_id,
        "project_id": entry.project_id,
        "key_id": entry.key_id,
        "kind": entry.kind,
        "capability": entry.capability,
        "target": entry.target,
        "error": {"code": entry.error_code, "message": entry.error_message},
        "attempt_count": len(entry.attempts),
        "status": entry.status,
        "replays": entry.replays,
        "last_replay_at": entry.last_replay_at.isoformat() if entry.last_replay_at else None,
        "last_replay_outcome": entry.last_replay_outcome,
        "last_replay_request_id": entry.last_replay_request_id,
        "created_at": entry.created_at.isoformat(),
    }
    if full:
        data["payload"] = entry.payload
        data["attempts"] = entry.attempts
    return data


def _query(request: web.Request) -> tuple[str | None, int, datetime | None]:
    status = request.query.get("status")
    if status not in (None, PENDING, REPLAYED):
        raise ValidationFailed(f"status must be {PENDING} or {REPLAYED}", param="status")
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError:
        raise ValidationFailed("limit must be a whole number", param="limit") from None
    before = request.query.get("before")
    try:
        when = datetime.fromisoformat(before.replace("Z", "+00:00")) if before else None
    except ValueError:
        raise ValidationFailed("before must be an ISO 8601 time", param="before") from None
    return status, limit, (when.replace(tzinfo=UTC) if when and when.tzinfo is None else when)


async def list_dead_letters(request: web.Request) -> web.Response:
    store = _store(request.app[SERVICES])
    scope = _scope(request)
    status, limit, before = _query(request)
    entries = await store.list(scope, status=status, limit=limit, before=before)
    total = await store.count(scope, status)
    return json_response({"data": [view(e, full=False) for e in entries], "total": total})


async def get_dead_letter(request: web.Request) -> web.Response:
    entry = await _store(request.app[SERVICES]).get(_scope(request), request.match_info["entry_id"])
    return json_response(view(entry, full=True))


async def replay_dead_letter(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    store = _store(services)
    entry = await store.get(_scope(request), request.match_info["entry_id"])
    outcome = await replay(
        entry,
        pipeline=services.pipeline,
        catalog=services.catalog,
        store=store,
        request_id=request[REQUEST_ID],
    )
    await _audit(request, "dlq.replay", entry, outcome=outcome.outcome)
    body: dict[str, Any] = {
        "id": entry.id,
        "request_id": outcome.request_id,
        "outcome": outcome.outcome,
        "status": outcome.status,
    }
    if outcome.error is not None:
        body["error"] = envelope_error(outcome.error, services.redactor)
    else:
        # What the provider answered, with every secret the service knows masked (as for any answer).
        body["data"] = orjson.loads(services.redactor.scrub_values(orjson.dumps(outcome.data).decode("utf-8")))
    return json_response(body)


async def delete_dead_letter(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    store = _store(services)
    entry = await store.get(_scope(request), request.match_info["entry_id"])
    await store.delete(entry.project_id, entry.id)
    await _audit(request, "dlq.delete", entry)
    return web.Response(status=204)


async def _audit(request: web.Request, action: str, entry: DeadLetter, **details: Any) -> None:
    principal: Principal = request[PRINCIPAL]
    await request.app[SERVICES].recorder.audit(
        request_id=request[REQUEST_ID],
        actor_key_id=principal.key_id,
        project_id=entry.project_id,
        action=action,
        target_type="dead_letter",
        target_id=entry.id,
        details={"original_request_id": entry.request_id, **details},
    )


def setup(r: Routes) -> None:
    r.add_get("/admin/dlq", list_dead_letters)
    r.add_get("/admin/dlq/{entry_id}", get_dead_letter)
    r.add_post("/admin/dlq/{entry_id}/replay", replay_dead_letter)
    r.add_delete("/admin/dlq/{entry_id}", delete_dead_letter)


# (method, path, summary, request body model, success status) for api/openapi.py
OPERATIONS: tuple[tuple[str, str, str, type[BaseModel] | None, int], ...] = (
    ("get", "/admin/dlq", "Dead letters, newest first (filters: status, limit, before; scope=all)", None, 200),
    ("get", "/admin/dlq/{entry_id}", "One dead letter: the stored request and every attempt", None, 200),
    ("post", "/admin/dlq/{entry_id}/replay", "Send it through the pipeline again; answers the outcome", None, 200),
    ("delete", "/admin/dlq/{entry_id}", "Delete a dead letter", None, 204),
)
