"""The service's OpenAPI 3.1 document: what each operation accepts and what it answers.

Request bodies are the pydantic models the handlers validate with, plus what the handlers check by
hand and a JSON schema can say (exactly one of two fields, at least one limit, a path below the
provider's base URL, stored-credential references only). Answers are ``api.openapi_answers``: the
success body's schema, every status an operation can answer, and the error shape of its path (the
envelope under ``/v1/requests``, OpenAI's elsewhere). ``tests/api/test_openapi_fuzz.py`` runs
schemathesis against the served document, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api_connector.api import admin_routes as admin
from api_connector.api import audit_routes as request_audit
from api_connector.api import connections_routes as connections
from api_connector.api import credentials_routes as credentials
from api_connector.api import dlq_routes as dlq
from api_connector.api import governance_routes as governance
from api_connector.api import health_routes as health
from api_connector.api import live_routes as live
from api_connector.api import responses_routes as responses
from api_connector.api import routing_routes as routing
from api_connector.api import speech_routes as speech
from api_connector.api import transcription_routes as transcription
from api_connector.api.anthropic_errors import uses_anthropic_shape
from api_connector.api.middleware import uses_envelope
from api_connector.api.openapi_answers import ANSWERS, JSON, PATH_PARAMS, PROJECT_HEADER, READ_SCOPE, Answer
from api_connector.api.openapi_schemas import ANTHROPIC_ERROR, ENVELOPE_ERROR, OPENAI_ERROR, STR, Schema
from api_connector.auth.keys import ALL_SCOPES
from api_connector.capabilities.requests import FORBIDDEN_HEADERS, GenericRequest
from api_connector.config import BASE_URL, INSTANCE_NAME, ProviderConfig, RouteConfig
from api_connector.core.chat import ChatRequest
from api_connector.core.embeddings import EmbeddingsRequest
from api_connector.core.rerank import RerankRequest
from api_connector.core.speech import SpeechRequest
from api_connector.providers import REGISTRY
from api_connector.storage.limit_store import LIMIT_FIELDS
from api_connector.wire.anthropic_ingress_types import CountTokensRequest, MessagesRequest

# (method, path, summary, tag, request body model, success status)
_OPERATIONS: tuple[tuple[str, str, str, str, type[BaseModel] | None, int], ...] = (
    ("post", "/v1/chat/completions", "Chat completion (OpenAI-compatible, JSON or SSE)", "inference", ChatRequest, 200),
    ("post", "/v1/embeddings", "Embeddings (OpenAI-compatible; float or base64)", "inference", EmbeddingsRequest, 200),
    ("get", "/v1/models", "Models and routes this key can use", "inference", None, 200),
    (
        "post",
        "/v1/rerank",
        "Documents ordered by relevance to a query",
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
    (
        "get",
        "/admin/providers/{name}/models",
        "The models a provider instance serves: its live list (refresh=true asks now), else the declared ones",
        "admin",
        None,
        200,
    ),
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
    *((method, path, summary, "admin", body, code) for method, path, summary, body, code in request_audit.OPERATIONS),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in credentials.OPERATIONS),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in routing.OPERATIONS),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in dlq.OPERATIONS),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in health.OPERATIONS),
    *((method, path, summary, "admin", body, code) for method, path, summary, body, code in connections.OPERATIONS),
    *((method, path, summary, "admin", body, status) for method, path, summary, body, status in governance.OPERATIONS),
    (
        "post",
        "/v1/messages",
        "Anthropic Messages API (JSON, or SSE events with stream: true) to any provider a route names; "
        "the gateway key as x-api-key or Authorization: Bearer; anthropic-beta reaches Anthropic targets",
        "inference",
        MessagesRequest,
        200,
    ),
    (
        "post",
        "/v1/messages/count_tokens",
        "Input tokens of an Anthropic Messages request: {input_tokens}. Counted by the provider where a target "
        "of the route can count (Anthropic's count_tokens), otherwise the gateway's own estimate (about four "
        "characters a token plus per-message overhead); the x-token-count-source header says provider or estimate",
        "inference",
        CountTokensRequest,
        200,
    ),
    *((method, path, summary, tag, body, 200) for method, path, summary, tag, body in speech.OPERATIONS),
    *((method, path, summary, tag, body, 200) for method, path, summary, tag, body in transcription.OPERATIONS),
    *((method, path, summary, tag, body, 101) for method, path, summary, tag, body in live.OPERATIONS),
    ("get", "/health", "Liveness", "system", None, 200),
    ("get", "/ready", "Readiness of dependencies (503 while one is down)", "system", None, 200),
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
_CHAT = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "Hello!"}]}
_EMBED = {"model": "sandbox/sandbox-embed", "input": ["first text", "second text"]}
_RERANK = {"model": "sandbox/sandbox-rerank", "query": "gateway", "documents": ["an api gateway", "a garden gate"]}
_SANDBOX_CALL = {"provider": "sandbox", "endpoint": "/chat/completions", "body": _CHAT | {"model": "sandbox-chat"}}
# One valid body per operation that names things the service must know (a provider, a model): what a
# reader copies, and what schemathesis's examples phase sends before it generates anything.
_EXAMPLES: dict[tuple[str, str], Any] = {
    ("post", "/v1/chat/completions"): _CHAT,
    ("post", "/v1/embeddings"): _EMBED,
    ("post", "/v1/rerank"): _RERANK,
    ("post", "/v1/requests"): _SANDBOX_CALL,
    ("post", "/v1/requests/stream"): _SANDBOX_CALL,
    ("post", "/admin/providers"): {"name": "my-sandbox", "config": {"type": "sandbox"}},
    ("post", "/admin/credentials"): {"name": "sandbox-key", "provider": "sandbox", "secret": "sk-example-123456"},
    ("put", "/admin/routes/{name}"): {
        "strategy": "priority",
        "targets": [{"provider": "sandbox", "model": "sandbox-chat"}],
    },
    ("post", "/admin/usage/estimate"): _CHAT,
    ("post", "/v1/audio/speech"): {
        "model": "sandbox/sandbox-tts",
        "input": "Hello!",
        "voice": "alloy",
        "response_format": "wav",
    },
}
# Bodies a handler reads only when one is sent.
_OPTIONAL_BODIES = {("post", "/admin/cache/clear")}

_ERRORS = {
    400: "The request is malformed, names something it may not use, or holds a field the target cannot carry "
    "(validation_error, invalid_json, unsupported_parameter, ...)",
    401: "No gateway key, or not a valid one; under /v1, also a provider refusing the service's credential",
    402: "A budget is exhausted (budget_exceeded)",
    403: "The key lacks the scope, or may not reach that project or resource",
    404: "No such resource (or not visible to this key); under /v1, no such model, route or provider",
    409: "It exists already (conflict, limit_exists)",
    413: "The request body is larger than MAX_BODY_BYTES",
    422: "The provider rejected the credential (credential_rejected)",
    429: "A gateway limit or the provider's rate limit (rate_limited, quota_exhausted); see Retry-After",
    500: "An internal error or an unusable credential reference (internal_error, credential_unavailable)",
    502: "The provider failed (upstream_error, connect_error, protocol_error, all_targets_failed)",
    503: "A dependency is down, or the service is at capacity (storage_unavailable, overloaded, circuit_open, ...)",
    504: "The provider did not answer in time (timeout)",
}


def _string_branch(prop: Schema) -> Schema:
    """The string alternative of a property (``str | None`` fields are an anyOf with null)."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == "string":
            return branch
    raise KeyError("no string alternative")


def _ci(word: str) -> str:
    """A case-insensitive regular expression for a header name (JSON Schema patterns take no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _chat(schema: Schema, defs: Schema) -> None:
    # A request without a model is sent to the operator's DEFAULT_OPENAI_MODEL.
    schema["required"].remove("model")


def _speech(schema: Schema, defs: Schema) -> None:
    # A request without a model is sent to the operator's DEFAULT_TTS_PROVIDER.
    schema["required"].remove("model")


def _transcription_form(schema: Schema, defs: Schema) -> None:
    # The audio is the form's one required part; a request without a model goes to DEFAULT_STT_PROVIDER.
    schema["properties"] = {"file": {"type": "string", "format": "binary"}, **schema["properties"]}
    schema["required"] = ["file"]


def _generic(schema: Schema, defs: Schema) -> None:
    props = schema["properties"]
    props["endpoint"].update(
        # Python's \s, which the handler uses, also matches \x1c-\x1f and \x85; ECMA's does not.
        pattern=r"^/[^\s\x1c-\x1f\x85\\#]*$",
        allOf=[{"not": {"pattern": "://"}}, {"not": {"pattern": r"^[^?]*/\.\.(?:[/?]|$)"}}],
        description="A path below the provider's base URL (no scheme, host or '..' segment)",
    )
    forbidden = "|".join(_ci(name) for name in sorted(FORBIDDEN_HEADERS))
    props["headers"].update(
        propertyNames={"pattern": r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", "not": {"pattern": f"^(?:{forbidden})$"}},
        additionalProperties={"type": "string", "pattern": "^[^\\r\\n\\u0000]*$"},
        description="Sent to the provider; credentials and connection headers are the service's",
    )
    # Either names the provider instance; with neither the request is refused.
    schema["anyOf"] = [
        {"required": ["provider"], "properties": {"provider": {"type": "string", "minLength": 1}}},
        {"required": ["capability"], "properties": {"capability": {"type": "string"}}},
    ]


def _new_credential(schema: Schema, defs: Schema) -> None:
    # An instance name or a provider type: both are names of this shape (anything else is neither).
    schema["properties"]["provider"]["pattern"] = INSTANCE_NAME.pattern
    _one_secret(schema, defs)


def _one_secret(schema: Schema, defs: Schema) -> None:
    secret = schema["properties"]["secret"]
    secret["anyOf"] = [
        {"type": "string", "pattern": r"[^\s\x1c-\x1f\x85]"},  # not blank (Python's blanks, not only ECMA's)
        {"type": "object", "minProperties": 1},
        {"type": "null"},
    ]
    # Exactly one of the two, never both, never neither.
    schema["anyOf"] = [
        {"required": ["secret"], "properties": {"secret": {"not": {"type": "null"}}, "reference": {"type": "null"}}},
        {"required": ["reference"], "properties": {"reference": {"type": "string"}, "secret": {"type": "null"}}},
    ]


def _some_limit(schema: Schema, defs: Schema) -> None:
    schema["anyOf"] = [{"required": [name], "properties": {name: {"type": "integer"}}} for name in LIMIT_FIELDS]


def _new_key(schema: Schema, defs: Schema) -> None:
    scopes = schema["properties"]["scopes"]
    scopes.update(minItems=1, items={"type": "string", "enum": sorted(ALL_SCOPES)})
    # A global key must hold the admin scope (and the default scopes do not).
    schema["if"] = {"required": ["global_key"], "properties": {"global_key": {"const": True}}}
    schema["then"] = {"required": ["scopes"], "properties": {"scopes": {"contains": {"const": "admin"}}}}


def _project_provider(schema: Schema, defs: Schema) -> None:
    schema["properties"]["name"]["pattern"] = INSTANCE_NAME.pattern
    config = defs["ProviderConfig"]
    config["properties"]["type"]["enum"] = sorted(REGISTRY)
    _string_branch(config["properties"]["base_url"])["pattern"] = BASE_URL.pattern
    # A project's instance uses its own stored credentials only; env:, vault: and aws: are the operator's.
    _string_branch(config["properties"]["credential"])["pattern"] = r"^cred_[A-Za-z0-9]+$"
    # Types without a default base URL need one; types that authenticate need a credential.
    config["allOf"] = [
        {"if": {"properties": {"type": {"enum": kinds}}}, "then": {"required": [field], "properties": {field: STR}}}
        for field, kinds in (
            ("base_url", sorted(t for t, spec in REGISTRY.items() if spec.base_url is None)),
            ("credential", sorted(t for t, spec in REGISTRY.items() if spec.requires_credential)),
        )
        if kinds
    ]
    schema["properties"]["config"] = {"$ref": "#/components/schemas/ProviderConfig"}


def _project_route(schema: Schema, defs: Schema) -> None:
    target = defs["TargetConfig"]["properties"]
    target["provider"]["description"] = "A provider instance this project can use (GET /admin/providers)"
    _string_branch(target["credential"])["pattern"] = r"^cred_[A-Za-z0-9]+$"


_REQUEST_RULES: dict[type[BaseModel], Callable[[Schema, Schema], None]] = {
    ChatRequest: _chat,
    GenericRequest: _generic,
    credentials.CreateCredential: _new_credential,
    credentials.RotateCredential: _one_secret,
    governance.NewLimit: _some_limit,
    governance.LimitBody: _some_limit,
    admin.CreateKey: _new_key,
    admin.CreateProvider: _project_provider,
    RouteConfig: _project_route,
    SpeechRequest: _speech,
    transcription.TranscriptionForm: _transcription_form,
}
# Request bodies sent as multipart/form-data (an uploaded file) instead of JSON.
_MULTIPART: frozenset[type[BaseModel]] = frozenset({transcription.TranscriptionForm})


def _request_schema(model: type[BaseModel]) -> tuple[Schema, Schema]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: Schema = schema.pop("$defs", {})
    if model is admin.CreateProvider:  # the document states the config's model, not a free object
        config, config_defs = _request_schema(ProviderConfig)
        defs.update(config_defs, ProviderConfig=config)
    rule = _REQUEST_RULES.get(model)
    if rule is not None:
        rule(schema, defs)
    return schema, defs


def _parameters(method: str, path: str, tag: str, answer: Answer) -> list[Schema]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMS.get(name, {"type": "string"})}
        for name in (seg[1:-1] for seg in path.split("/") if seg.startswith("{"))
    ]
    extra = (*answer.params, PROJECT_HEADER) if tag != "system" else answer.params
    if method == "get" and path.startswith("/admin/"):
        # Every admin read takes these (api/read_scope.py): whose rows it shows.
        named = {p.name for p in extra}
        extra = (*extra, *(p for p in READ_SCOPE if p.name not in named))
    params += [{"name": p.name, "in": p.where, "schema": p.schema, "description": p.description} for p in extra]
    return params


def _responses(path: str, tag: str, answer: Answer, status: int) -> Schema:
    responses: Schema = {}
    for code in answer.success or (str(status),):
        if answer.body is None and answer.media == (JSON,):
            responses[code] = {"description": "done, no body"}
            continue
        media = {kind: ({"schema": answer.body} if kind == JSON and answer.body else {}) for kind in answer.media}
        responses[code] = {"description": "success", "content": media}
        if answer.headers:
            responses[code]["headers"] = answer.headers
    errors = {500, *answer.errors} if tag == "system" else {401, 403, 500, 503, *answer.errors}
    if tag == "admin":
        errors.add(400)  # every admin operation reads whose rows it acts on (scope, project): a bad one is 400
    kind = "AnthropicError" if uses_anthropic_shape(path) else "EnvelopeError" if uses_envelope(path) else "Error"
    shape = {"$ref": f"#/components/schemas/{kind}"}
    for error in sorted(errors):
        responses.setdefault(str(error), {"description": _ERRORS[error], "content": {JSON: {"schema": shape}}})
    return responses


# Every operation's answer: the shared table, and those the route modules with their own media declare.
_ANSWERS: dict[tuple[str, str], Answer] = {
    **ANSWERS,
    **speech.ANSWERS,
    **transcription.ANSWERS,
    **live.ANSWERS,
    **request_audit.ANSWERS,
}


def _operation(method: str, path: str, summary: str, tag: str, model: type[BaseModel] | None, status: int) -> Schema:
    answer = _ANSWERS[(method, path)]
    op: dict[str, Any] = {
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{method}{path}").strip("_"),
        "summary": summary,
        "tags": [tag],
        "parameters": _parameters(method, path, tag, answer),
        "responses": _responses(path, tag, answer, status),
    }
    if tag != "system":
        op["security"] = [{"bearer": []}]
    elif path == "/metrics":
        op["security"] = [{}, {"bearer": []}]  # the token only when the operator sets METRICS_TOKEN
    if model is not None:
        schema, defs = _request_schema(model)
        required = (method, path) not in _OPTIONAL_BODIES
        media: Schema = {"schema": schema}
        if (method, path) in _EXAMPLES:
            media["example"] = _EXAMPLES[(method, path)]
        kind = "multipart/form-data" if model in _MULTIPART else JSON
        op["requestBody"] = {"required": required, "content": {kind: media}}
        op["x-defs"] = defs
    return op


@cache
def _document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {
        "Error": OPENAI_ERROR,
        "EnvelopeError": ENVELOPE_ERROR,
        "AnthropicError": ANTHROPIC_ERROR,
    }
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
