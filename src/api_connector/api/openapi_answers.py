"""What each operation answers and which query and header parameters it reads, for ``api.openapi``.

Every operation of the service has an entry (a test compares them with the routes the app serves):
the JSON schema of its success body, the error statuses it can answer besides the ones every
authenticated operation can (401, 403, 500, 503), and the parameters its handler reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from api_connector.api import openapi_schemas as s
from api_connector.api.openapi_schemas import INT, STR, Schema, enum

SSE = "text/event-stream"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Literal["query", "header"]
    schema: Schema
    description: str


@dataclass(frozen=True, slots=True)
class Answer:
    body: Schema | None  # the success body's JSON schema; None: no body (204) or not JSON
    errors: tuple[int, ...] = ()  # besides 401, 403, 500 and 503
    params: tuple[Param, ...] = ()
    success: tuple[str, ...] = ()  # the statuses of success, when not only the operation's own (upserts)
    media: tuple[str, ...] = (JSON,)
    headers: Schema | None = None  # the success answer's own headers (an OpenAPI headers object)


def _q(name: str, schema: Schema, description: str) -> Param:
    return Param(name, "query", schema, description)


def _h(name: str, schema: Schema, description: str) -> Param:
    return Param(name, "header", schema, description)


_TIME_SPAN = {"type": "string", "pattern": "^[0-9]+[mhd]$"}
LIMIT = _q("limit", INT, "How many, newest first (clamped to 1..1000; default 100)")
PROJECT = _q("project", STR, "One project's figures (a global admin sees every project's by default)")
SCOPE_ALL = _q("scope", enum("all"), "Every project's dead letters (global admin keys only)")
PRIORITY = _h("x-priority", enum("low", "normal", "high"), "Admission priority (default normal)")
TIMEOUT = _h(
    "x-timeout",
    {"type": "number", "minimum": 0.001, "maximum": 600},
    "Seconds for the whole request, retries and failover included",
)
RETRIES = _h("x-retries", {"type": "integer", "minimum": 0, "maximum": 10}, "Tries on the same target after the first")
COALESCE = _h("x-coalesce", STR, '"1": share one upstream call with identical requests in flight')
# Every operation that acts for a project reads this header (api.context.project_of).
PROJECT_HEADER = _h(
    "x-project-id", STR, "A global admin key acts for this project (else the default project); other keys ignore it"
)

# Every admin read (api/read_scope.py) takes these besides x-project-id: whose rows it shows.
READ_SCOPE = (
    _q(
        "scope",
        enum("project", "all", "global"),
        "Global admin keys only (403 otherwise): 'all' reads every project and the rows of none, 'global' only "
        "the rows that belong to no project, 'project' one project (the default project unless x-project-id or "
        "?project= names one). A read kept per project answers 400 to 'all' or 'global'.",
    ),
    _q("project", STR, "The project to read (global admin keys; a project key may name only its own)"),
)

_V1 = (400, 402, 404, 413, 429, 502, 503, 504)
_WRITE = (400, 404, 413)
_CHAT_PARAMS = (
    PRIORITY,
    TIMEOUT,
    RETRIES,
    COALESCE,
    _h("x-cache-ttl", {"type": "integer", "minimum": 0, "maximum": 2_592_000}, "Seconds to cache this answer"),
    _h("x-cache-key", STR, "The caller's cache key instead of the request's hash (with x-cache-ttl)"),
)

ANSWERS: dict[tuple[str, str], Answer] = {
    ("post", "/v1/chat/completions"): Answer(s.CHAT_COMPLETION, _V1, _CHAT_PARAMS, media=(JSON, SSE)),
    ("post", "/v1/embeddings"): Answer(
        s.EMBEDDINGS,
        _V1,
        _CHAT_PARAMS,
        headers={
            "x-cache": {
                "description": "hit: every vector came from the cache; partial: some did",
                "schema": enum("hit", "partial"),
            },
            "x-usage-estimated": {
                "description": "true when the vendor did not say what it used and the tokens are estimated",
                "schema": enum("true"),
            },
        },
    ),
    ("post", "/v1/rerank"): Answer(s.RERANK, _V1, _CHAT_PARAMS),
    ("post", "/v1/responses"): Answer(s.RESPONSE, _V1, _CHAT_PARAMS, media=(JSON, SSE)),
    ("get", "/v1/responses/{response_id}"): Answer(s.RESPONSE, (400, 404)),
    ("delete", "/v1/responses/{response_id}"): Answer(s.RESPONSE_DELETED, (404,)),
    ("post", "/v1/messages"): Answer(s.ANTHROPIC_MESSAGE, _V1, _CHAT_PARAMS, media=(JSON, SSE)),
    ("post", "/v1/messages/count_tokens"): Answer(
        s.TOKEN_COUNT,
        _V1,
        headers={
            "x-token-count-source": {
                "description": "provider: counted by a target's own tokenizer; estimate: the gateway's estimate",
                "schema": enum("provider", "estimate"),
            }
        },
    ),
    ("get", "/v1/models"): Answer(s.MODELS),
    ("post", "/v1/requests"): Answer(s.ENVELOPE, _V1, (PRIORITY, TIMEOUT, RETRIES, COALESCE)),
    # The upstream's answer as it arrives: its status (any 2xx), its content type, its bytes.
    ("post", "/v1/requests/stream"): Answer(None, _V1, (PRIORITY, TIMEOUT, RETRIES), success=("2XX",), media=("*/*",)),
    ("get", "/admin/organizations"): Answer(s.data_of(s.arr(s.ORGANIZATION))),
    ("post", "/admin/organizations"): Answer(s.ORGANIZATION, (400, 409, 413)),
    ("get", "/admin/projects"): Answer(
        s.data_of(s.arr(s.PROJECT)), (404,), (_q("organization_id", STR, "Only this organization's (global admin)"),)
    ),
    ("post", "/admin/projects"): Answer(s.PROJECT, (*_WRITE, 409)),
    ("get", "/admin/keys"): Answer(s.data_of(s.arr(s.KEY)), (), (_q("project_id", STR, "Only this project's keys"),)),
    ("post", "/admin/keys"): Answer(s.NEW_KEY, _WRITE),
    ("delete", "/admin/keys/{key_id}"): Answer(s.KEY, (404,)),
    ("get", "/admin/providers"): Answer(s.data_of(s.arr(s.PROVIDER_ENTRY))),
    ("post", "/admin/providers"): Answer(s.STORED_PROVIDER, (*_WRITE, 409)),
    ("delete", "/admin/providers/{name}"): Answer(None, (404,)),
    ("get", "/admin/providers/{name}/models"): Answer(
        s.PROVIDER_MODELS, (404,), (_q("refresh", enum("true", "1"), "Ask the provider now instead of the kept list"),)
    ),
    ("get", "/admin/usage"): Answer(s.data_of(s.arr(s.USAGE_RECORD)), (400,), (LIMIT,)),
    ("get", "/admin/usage/summary"): Answer(s.data_of(s.arr(s.USAGE_SUMMARY))),
    ("get", "/admin/audit"): Answer(
        s.data_of(s.arr(s.AUDIT_ENTRY)),
        (400,),
        (
            _q("action", STR, "Only events of this action (e.g. key.create)"),
            _q("credential_id", STR, "Only events about this credential"),
            _q("since", s.TIME, "Only events at or after this time (ISO 8601)"),
            LIMIT,
        ),
    ),
    ("post", "/admin/credentials"): Answer(s.CREDENTIAL, (*_WRITE, 409, 422)),
    ("get", "/admin/credentials"): Answer(s.data_of(s.arr(s.CREDENTIAL))),
    ("get", "/admin/credentials/{credential_id}"): Answer(s.CREDENTIAL, (404,)),
    ("post", "/admin/credentials/{credential_id}/rotate"): Answer(s.CREDENTIAL, (*_WRITE, 409, 422)),
    ("post", "/admin/credentials/{credential_id}/verify"): Answer(s.VERIFICATION, (400, 404)),
    ("post", "/admin/credentials/{credential_id}/disable"): Answer(s.CREDENTIAL, (404,)),
    ("post", "/admin/credentials/{credential_id}/enable"): Answer(s.CREDENTIAL, (404,)),
    ("delete", "/admin/credentials/{credential_id}"): Answer(None, (404,)),
    ("get", "/admin/routes"): Answer(s.data_of(s.arr(s.ROUTE))),
    ("get", "/admin/routes/{name}"): Answer(s.ROUTE, (404,)),
    ("put", "/admin/routes/{name}"): Answer(s.ROUTE, _WRITE, success=("200", "201")),
    ("delete", "/admin/routes/{name}"): Answer(None, (404,)),
    ("get", "/admin/routing/state"): Answer(s.ROUTING_STATE),
    ("get", "/admin/dlq"): Answer(
        s.DEAD_LETTERS,
        (400,),
        (
            _q("status", enum("pending", "replayed"), "Only entries in this state"),
            LIMIT,
            _q("before", s.TIME, "Only entries older than this time (ISO 8601): the next page"),
            SCOPE_ALL,
        ),
    ),
    ("get", "/admin/dlq/{entry_id}"): Answer(s.DEAD_LETTER, (404,), (SCOPE_ALL,)),
    ("post", "/admin/dlq/{entry_id}/replay"): Answer(s.REPLAY, (404,), (SCOPE_ALL,)),
    ("delete", "/admin/dlq/{entry_id}"): Answer(None, (404,), (SCOPE_ALL,)),
    ("get", "/admin/health"): Answer(
        s.data_of(s.arr(s.HEALTH_REPORT)), (404,), (_q("provider", STR, "Only this provider instance"),)
    ),
    ("get", "/admin/health/{name}"): Answer(s.HEALTH_REPORT, (404,)),
    ("post", "/admin/health/{name}/check"): Answer(s.HEALTH_REPORT, (400, 404)),
    ("get", "/admin/alerts"): Answer(s.ALERTS, (404,)),
    ("post", "/admin/connections/initialize"): Answer(
        s.data_of(s.arr(s.CONNECTION_STATUS)),
        _WRITE,
        (_q("strict", enum("true", "false"), "true: answer 503 connections_failed when a provider failed"),),
    ),
    ("post", "/admin/connections/refresh"): Answer(
        s.data_of(s.arr(s.CONNECTION_STATUS)),
        (400, 404),
        (
            _q("provider", STR, "Only the provider instance of this name"),
            _q("strict", enum("true", "false"), "true: answer 503 connections_failed when a provider failed"),
            *READ_SCOPE,
        ),
    ),
    ("get", "/admin/metrics"): Answer(
        s.METRICS,
        (400, 404),
        (
            _q("time_range", _TIME_SPAN, "How far back: 15m, 24h, 30d (1m to 366d; default 1h)"),
            _q("step", _TIME_SPAN, "Width of each point of the series (1m to 366d; default about 60 points)"),
        ),
    ),
    ("get", "/admin/usage/stats"): Answer(
        s.USAGE_STATS,
        (400, 404),
        (
            _q("provider", STR, "Only this provider instance"),
            _q("time_range", _TIME_SPAN, "How far back: 15m, 24h, 30d (1m to 366d; default 30d)"),
        ),
    ),
    ("get", "/admin/cache/stats"): Answer(s.CACHE_STATS, (), (PROJECT,)),
    ("delete", "/admin/cache"): Answer(
        s.CACHE_CLEARED, (), (_q("pattern", STR, "Glob over cache keys (default *: everything)"), PROJECT)
    ),
    ("post", "/admin/cache/clear"): Answer(
        s.CACHE_CLEARED, (400, 413), (_q("pattern", STR, "Glob over cache keys, instead of the body's"), PROJECT)
    ),
    ("post", "/admin/usage/estimate"): Answer(s.ESTIMATE, _WRITE),
    ("get", "/admin/budgets"): Answer(s.BUDGETS, (), (PROJECT,)),
    ("get", "/admin/limits"): Answer(s.LIMITS, (), (PROJECT,)),
    ("post", "/admin/limits"): Answer(s.data_of(s.LIMIT), (*_WRITE, 409)),
    ("get", "/admin/limits/{kind}/{subject_id}"): Answer(s.data_of(s.LIMIT), (404,)),
    ("put", "/admin/limits/{kind}/{subject_id}"): Answer(s.data_of(s.LIMIT), _WRITE, success=("200", "201")),
    ("delete", "/admin/limits/{kind}/{subject_id}"): Answer(None, (404,)),
    ("get", "/health"): Answer(s.LIVENESS),
    ("get", "/ready"): Answer(s.READINESS, success=("200", "503")),
    ("get", "/openapi.json"): Answer(s.OBJ),
    # 401 only when the operator set METRICS_TOKEN and the scrape does not present it.
    ("get", "/metrics"): Answer(None, (401,), media=("text/plain",)),
}

# Path parameters whose values are a closed set (others are free strings).
PATH_PARAMS: dict[str, Schema] = {"kind": enum("keys", "projects")}
