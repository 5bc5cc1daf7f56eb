"""The request audit over HTTP: ``GET /admin/audit/requests`` (filtered) and erasure on request
(``DELETE /admin/audit/requests``), itself audited.

A request's row is its usage row (who, what, outcome, the caller's address) joined with its bodies when
the project keeps them; it is listed while the audit keeps something of it (an address or bodies), so
requests made in ``none`` mode, or past retention, or erased, are not. An erasure deletes the bodies
and clears the address of every request it takes; the usage rows stay (they are the usage log).

Whose rows either reaches is decided by ``api.read_scope`` like every admin read: a project's key its
own project only; a global admin the project it names, or every project with ``scope=all``. An erasure
names what goes (a key, a time range, or both; never "everything" by omission).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from aiohttp import web

from api_connector.api import openapi_schemas as s
from api_connector.api.admin_routes import query_limit, query_time
from api_connector.api.middleware import Routes
from api_connector.api.openapi_answers import LIMIT, Answer, Param
from api_connector.api.read_scope import read_scope
from api_connector.api.render import json_response
from api_connector.api.services import PRINCIPAL, REQUEST_ID, SERVICES
from api_connector.auth.authenticator import Principal
from api_connector.errors import ValidationFailed
from api_connector.storage.request_audit import AuditFilter, RequestAuditEntry, RequestAuditStore

_STATUSES = ("success", "error")


def _store(request: web.Request) -> RequestAuditStore:
    store = request.app[SERVICES].request_audits
    assert store is not None  # built by create_app
    return store


def _filter(request: web.Request) -> AuditFilter:
    """The rows this request names, within the caller's reach."""
    scope = read_scope(request)
    status = request.query.get("status")
    if status is not None and status not in _STATUSES:
        raise ValidationFailed("status must be success or error", param="status")
    return AuditFilter(
        project_id=scope.project_or_every(),
        key_id=request.query.get("key_id") or None,
        provider=request.query.get("provider") or None,
        status=status,
        since=query_time(request, "since"),
        until=query_time(request, "until"),
    )


def _json(entry: RequestAuditEntry) -> dict[str, Any]:
    data = asdict(entry)
    for name, value in data.items():
        if isinstance(value, datetime):
            data[name] = value.isoformat()
    return data


async def list_requests(request: web.Request) -> web.Response:
    rows = await _store(request).list(_filter(request), query_limit(request))
    return json_response({"data": [_json(row) for row in rows]})


async def erase_requests(request: web.Request) -> web.Response:
    which = _filter(request)
    if which.key_id is None and which.since is None and which.until is None:
        raise ValidationFailed("name what to erase: key_id, a time range (since, until), or both", param="key_id")
    deleted = await _store(request).erase(which)
    principal: Principal = request[PRINCIPAL]
    details: dict[str, Any] = {
        "deleted": deleted,
        **{name: value for name, value in (("provider", which.provider), ("status", which.status)) if value},
        **{name: at.isoformat() for name, at in (("since", which.since), ("until", which.until)) if at},
        "scope": "all" if which.project_id is None else "project",
    }
    await request.app[SERVICES].recorder.audit(
        request_id=request[REQUEST_ID],
        actor_key_id=principal.key_id,
        project_id=which.project_id,
        action="request_audit.erase",
        target_type="request_audit",
        target_id=which.key_id,
        details=details,
    )
    return json_response({"deleted": deleted})


def setup(routes: Routes) -> None:
    routes.add_get("/admin/audit/requests", list_requests)
    routes.add_delete("/admin/audit/requests", erase_requests)


# -- the OpenAPI document's entries (api.openapi) ------------------------------------------------------
OPERATIONS = (
    (
        "get",
        "/admin/audit/requests",
        "The request audit: one row per audited API request (who, what, outcome, the caller's address; with "
        "audit.payloads: sanitized also the request and answer bodies, secrets masked, configured fields "
        "redacted, cut to size)",
        None,
        200,
    ),
    (
        "delete",
        "/admin/audit/requests",
        "Erase what the request audit kept (bodies, caller addresses) of requests on request (by key_id "
        "and/or time range); answers how many requests; the erasure is itself audited",
        None,
        200,
    ),
)
_BODY = s.nullable(
    s.obj({"type": s.nullable(s.STR), "bytes": s.nullable(s.INT), "body": s.nullable(s.STR), "truncated": s.BOOL})
)
REQUEST_AUDIT = s.obj(
    {
        "id": s.INT,
        "request_id": s.STR,
        "project_id": s.STR,
        "key_id": s.nullable(s.STR),
        "client": s.nullable(s.STR),
        "provider": s.STR,
        "model": s.STR,
        "capability": s.STR,
        "status": s.enum(*_STATUSES),
        "error_code": s.nullable(s.STR),
        "latency_ms": s.NUM,
        "payloads": s.enum("metadata", "sanitized"),
        "request": _BODY,
        "response": _BODY,
        "created_at": s.TIME,
        "expires_at": s.TIME,
    }
)
_FILTERS = (
    Param("key_id", "query", s.STR, "Only the requests made with this gateway key"),
    Param("provider", "query", s.STR, "Only the requests this provider instance served"),
    Param("status", "query", s.enum(*_STATUSES), "Only successes or only errors"),
    Param("since", "query", s.TIME, "Only requests at or after this time (ISO 8601)"),
    Param("until", "query", s.TIME, "Only requests before this time (ISO 8601)"),
)
# An erasure reaches rows as a read does (api.read_scope); reads get these with every admin read.
_REACH = (
    Param("scope", "query", s.enum("project", "all"), "all: every project's rows (global admin keys only)"),
    Param("project", "query", s.STR, "This project's rows (global admin keys; a project's key erases its own)"),
)
ANSWERS: dict[tuple[str, str], Answer] = {
    ("get", "/admin/audit/requests"): Answer(s.data_of(s.arr(REQUEST_AUDIT)), (400,), (*_FILTERS, LIMIT)),
    ("delete", "/admin/audit/requests"): Answer(s.obj({"deleted": s.INT}), (400,), (*_FILTERS, *_REACH)),
}
