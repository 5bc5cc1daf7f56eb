"""The service's OpenAPI 3.1 document, built from the request models the handlers validate with."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api_connector.api import admin_routes as admin
from api_connector.api import credentials_routes as credentials
from api_connector.api import dlq_routes as dlq
from api_connector.api import governance_routes as governance
from api_connector.api import health_routes as health
from api_connector.api import responses_routes as responses
from api_connector.api import routing_routes as routing
from api_connector.api.requests_routes import GenericRequest
from api_connector.core.chat import ChatRequest
from api_connector.core.rerank import RerankRequest

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": "string"},
                "param": {"type": ["string", "null"]},
            },
            "required": ["message", "type", "code"],
        }
    },
}

# (method, path, summary, tag, request body model, success status)
_OPERATIONS: tuple[tuple[str, str, str, str, type[BaseModel] | None, int], ...] = (
    ("post", "/v1/chat/completions", "Chat completion (OpenAI-compatible, JSON or SSE)", "inference", ChatRequest, 200),
    ("get", "/v1/models", "Models and routes this key can use", "inference", None, 200),
    (
        "post",
        "/v1/rerank",
        "Documents ordered by relevance to a query: {id?, model, results: [{index, relevance_score, "
        "document?}], usage: {search_units, total_tokens}}",
        "inference",
        RerankRequest,
        200,
    ),
    (
        "post",
        "/v1/requests",
        "Any provider endpoint, credential injected; answers the envelope",
        "requests",
        GenericRequest,
        200,
    ),
    ("post", "/v1/requests/stream", "Any provider endpoint, body streamed back", "requests", GenericRequest, 200),
    ("get", "/admin/organizations", "List organizations (global admin)", "admin", None, 200),
    ("post", "/admin/organizations", "Create an organization (global admin)", "admin", admin.CreateOrganization, 201),
    ("get", "/admin/projects", "List projects", "admin", None, 200),
    ("post", "/admin/projects", "Create a project (global admin)", "admin", admin.CreateProject, 201),
    ("get", "/admin/keys", "List gateway keys (never their plaintext)", "admin", None, 200),
    ("post", "/admin/keys", "Create a gateway key; the plaintext is shown once", "admin", admin.CreateKey, 201),
    ("delete", "/admin/keys/{key_id}", "Revoke a gateway key", "admin", None, 200),
    ("get", "/admin/providers", "Provider instances this project can use", "admin", None, 200),
    ("post", "/admin/providers", "Add a provider instance to this project", "admin", admin.CreateProvider, 201),
    ("delete", "/admin/providers/{name}", "Remove a provider instance of this project", "admin", None, 204),
    ("get", "/admin/usage", "Usage records of this project", "admin", None, 200),
    ("get", "/admin/usage/summary", "Usage by provider and model", "admin", None, 200),
    (
        "get",
        "/admin/audit",
        "Audit events of this project (filters: action, credential_id, since); a global admin's scope=global "
        "reads the operator's events (no project: master-key rotation), scope=all every event",
        "admin",
        None,
        200,
    ),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in credentials.OPERATIONS),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in routing.OPERATIONS),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in dlq.OPERATIONS),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in health.OPERATIONS),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in governance.OPERATIONS),
    ("get", "/health", "Liveness", "system", None, 200),
    ("get", "/ready", "Readiness of dependencies", "system", None, 200),
    ("get", "/openapi.json", "This document", "system", None, 200),
    (
        "get",
        "/metrics",
        "Prometheus metrics (with METRICS_TOKEN set: Authorization: Bearer <token>)",
        "system",
        None,
        200,
    ),
    *((method, path, summary, "inference", body, code) for method, path, summary, body, code in responses.OPERATIONS),
)

# Every admin read takes these (api/read_scope.py): whose rows it shows.
_READ_SCOPE_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "scope",
        "in": "query",
        "required": False,
        "description": "Global admin keys only (403 otherwise): 'all' reads every project and the rows of none, "
        "'global' only the rows that belong to no project, 'project' one project (the default project unless "
        "x-project-id or ?project= names one). A read kept per project answers 400 to 'all' or 'global'.",
        "schema": {"type": "string", "enum": ["project", "all", "global"]},
    },
    {
        "name": "project",
        "in": "query",
        "required": False,
        "description": "The project to read (global admin keys; a project key may name only its own).",
        "schema": {"type": "string"},
    },
    {
        "name": "x-project-id",
        "in": "header",
        "required": False,
        "description": "The project to read, for a global admin key (ignored for a project's key).",
        "schema": {"type": "string"},
    },
]


def _operation(
    method: str, path: str, summary: str, tag: str, model: type[BaseModel] | None, status: int
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {
            str(status): {"description": "success"},
            "default": {"description": "error", "content": {"application/json": {"schema": _ERROR}}},
        },
    }
    if tag != "system":
        op["security"] = [{"bearer": []}]
    elif path == "/metrics":
        op["security"] = [{}, {"bearer": []}]  # the token only when the operator sets METRICS_TOKEN
    params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
    parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    if method == "get" and path.startswith("/admin/"):
        parameters += _READ_SCOPE_PARAMETERS
    if parameters:
        op["parameters"] = parameters
    if model is not None:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        defs = schema.pop("$defs", {})
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        op["x-defs"] = defs
    return op


@cache
def _document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for method, path, summary, tag, model, status in _OPERATIONS:
        op = _operation(method, path, summary, tag, model, status)
        schemas.update(op.pop("x-defs", {}))
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "api-connector",
            "version": "0.1.0",
            "description": "One gateway to external APIs: OpenAI-compatible inference, generic "
            "requests with injected credentials, and administration.",
        },
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def openapi_document(app: web.Application) -> dict[str, Any]:
    return _document()
