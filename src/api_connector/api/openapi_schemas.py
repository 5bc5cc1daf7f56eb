"""JSON Schemas of what the service answers, for the OpenAPI document (``api.openapi``).

Written from what the handlers render (``_plain`` of the storage records, the views of the route
modules), field for field: every field always present is required, a field that may be null says
so, and a field present only sometimes is optional. Objects stay open to new fields, so adding one
to an answer is not a break. ``tests/api/test_openapi_fuzz.py`` holds the service to these schemas.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}
TIME: Schema = {"type": "string", "format": "date-time"}
OBJ: Schema = {"type": "object"}


def nullable(schema: Schema) -> Schema:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {"type": "object", "properties": {**required, **(optional or {})}, "required": list(required)}


def arr(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def data_of(schema: Schema) -> Schema:
    """``{"data": ...}``: how list answers (and the governance API's objects) are wrapped."""
    return obj({"data": schema})


def map_of(schema: Schema) -> Schema:
    return {"type": "object", "additionalProperties": schema}


# -- errors ----------------------------------------------------------------------------------------
OPENAI_ERROR = obj(
    {
        "error": obj(
            {"message": STR, "type": STR, "code": STR, "param": nullable(STR)}, {"provider": STR, "details": OBJ}
        )
    }
)
# Anthropic's error shape, on the Anthropic Messages routes (``api.anthropic_errors``).
ANTHROPIC_ERROR = obj(
    {
        "type": {"const": "error"},
        "error": obj({"type": STR, "message": STR}, {"details": obj({}, {"error_code": STR})}),
    },
    {"request_id": STR},
)
ENVELOPE_ERROR = obj(
    {
        "success": {"const": False},
        "error": obj({"code": STR, "message": STR, "provider": nullable(STR), "retryable": BOOL}, {"details": OBJ}),
        "metadata": obj({"provider": nullable(STR), "response_time_ms": NUM, "cached": BOOL, "request_id": STR}),
    }
)

# -- inference and generic requests ----------------------------------------------------------------
# Anthropic's Messages answer and token count (``/v1/messages``, ``/v1/messages/count_tokens``).
ANTHROPIC_MESSAGE = obj(
    {
        "id": STR,
        "type": {"const": "message"},
        "role": {"const": "assistant"},
        "content": arr(obj({"type": STR})),
        "model": STR,
        "stop_reason": nullable(STR),
        "usage": obj({"input_tokens": INT, "output_tokens": INT}),
    },
    {"stop_sequence": nullable(STR)},
)
TOKEN_COUNT = obj({"input_tokens": INT})
# OpenAI's Responses object (``/v1/responses``) and its deletion.
RESPONSE = obj(
    {"id": STR, "object": {"const": "response"}, "status": STR, "output": arr(OBJ)},
    {"created_at": NUM, "model": STR, "usage": nullable(OBJ), "error": nullable(OBJ)},
)
RESPONSE_DELETED = obj({"id": STR, "object": {"const": "response"}, "deleted": {"const": True}})
CHAT_COMPLETION = obj(
    {"id": STR, "object": STR, "choices": arr(obj({"index": INT, "message": obj({"role": STR})}))},
    {"created": INT, "model": STR, "usage": nullable(OBJ)},
)
MODELS = obj(
    {"object": {"const": "list"}, "data": arr(obj({"id": STR, "object": STR, "created": INT, "owned_by": STR}))}
)
ENVELOPE = obj(
    {
        "success": {"const": True},
        "data": ANY,  # the provider's answer: JSON as JSON, anything else as text, null for an empty body
        "metadata": obj(
            {"provider": STR, "status": INT, "response_time_ms": NUM, "cached": BOOL, "request_id": STR},
            {"tokens_used": INT, "cost": nullable(NUM)},
        ),
    }
)

# -- tenancy, keys, providers, usage, audit ---------------------------------------------------------
ORGANIZATION = obj({"id": STR, "name": STR, "created_at": TIME})
PROJECT = obj({"id": STR, "organization_id": STR, "name": STR, "created_at": TIME})
_KEY_FIELDS = {
    "id": STR,
    "project_id": nullable(STR),
    "name": STR,
    "prefix": STR,
    "scopes": arr(enum("admin", "inference", "requests")),
    "created_at": TIME,
    "revoked_at": nullable(TIME),
    "last_used_at": nullable(TIME),
}
KEY = obj(_KEY_FIELDS)
NEW_KEY = obj({**_KEY_FIELDS, "key": STR})  # the plaintext, shown this once
STORED_PROVIDER = obj(
    {"id": STR, "project_id": STR, "name": STR, "type": STR, "config": OBJ, "created_at": TIME, "updated_at": TIME}
)
PROVIDER_ENTRY = obj(
    {
        "name": STR,
        "type": STR,
        "base_url": nullable(STR),
        "models": arr(STR),
        "capabilities": arr(STR),
        "source": enum("config", "project"),
    }
)
_TOKENS = {"prompt_tokens": INT, "completion_tokens": INT}
USAGE_RECORD = obj(
    {
        "id": INT,
        "request_id": STR,
        "project_id": STR,
        "key_id": nullable(STR),
        "provider": STR,
        "model": STR,
        "capability": STR,
        "status": enum("success", "error"),
        "error_code": nullable(STR),
        **_TOKENS,
        "cached_tokens": INT,
        "cost_usd": nullable(NUM),
        "latency_ms": NUM,
        "created_at": TIME,
        "cached": BOOL,
        "coalesced": BOOL,
    }
)
USAGE_SUMMARY = obj(
    {
        "provider": STR,
        "model": STR,
        "requests": INT,
        "errors": INT,
        **_TOKENS,
        "cached_tokens": INT,
        "total_tokens": INT,
        "cost_usd": nullable(NUM),
        "avg_latency_ms": NUM,
    }
)
AUDIT_ENTRY = obj(
    {
        "id": INT,
        "request_id": nullable(STR),
        "actor_key_id": nullable(STR),
        "project_id": nullable(STR),
        "action": STR,
        "target_type": STR,
        "target_id": nullable(STR),
        "outcome": STR,
        "details": OBJ,
        "created_at": TIME,
    }
)

# -- credentials ---------------------------------------------------------------------------------------
_VERSION = obj(
    {
        "version": INT,
        "status": enum("current", "valid", "retired"),
        "masked": STR,
        "master_key_id": nullable(STR),
        "verification": nullable(STR),
        "verification_detail": nullable(STR),
        "verified_at": nullable(TIME),
        "created_at": TIME,
        "valid_until": nullable(TIME),
    }
)
CREDENTIAL = obj(
    {
        "id": STR,
        "project_id": STR,
        "name": STR,
        "provider": STR,
        "kind": enum("text", "json"),
        "state": STR,
        "masked": STR,
        "current_version": nullable(INT),
        "verification": nullable(STR),
        "overlap_seconds": INT,
        "created_at": TIME,
        "updated_at": TIME,
        "versions": arr(_VERSION),
    }
)
VERIFICATION = obj({"id": STR, "verification": obj({"status": STR, "detail": nullable(STR)})})

# -- routing and dead letters ------------------------------------------------------------------------
_TARGET = obj(
    {
        "provider": STR,
        "model": STR,
        "key": STR,
        "weight": NUM,
        "priority": INT,
        "credential": nullable(STR),
        "max_in_flight": nullable(INT),
        "features": obj(
            {
                "context_window": nullable(INT),
                "tools": nullable(BOOL),
                "vision": nullable(BOOL),
                "streaming": nullable(BOOL),
            }
        ),
        "price": nullable(obj({"input_per_mtok": NUM, "output_per_mtok": NUM})),
    }
)
ROUTE = obj({"name": STR, "strategy": STR, "source": enum("config", "project"), "targets": arr(_TARGET)})
ROUTING_STATE = obj(
    {
        "breakers": map_of(obj({"state": STR, "retry_after": NUM})),
        "targets": map_of(obj({"latency_ewma_ms": nullable(NUM), "in_flight": INT})),
        "admission": obj({"limit": INT, "in_flight": INT, "refused": map_of(INT)}),
        "retry_budget": obj({"refused": INT}),
    }
)
_DEAD_LETTER_FIELDS = {
    "id": STR,
    "request_id": STR,
    "project_id": STR,
    "key_id": nullable(STR),
    "kind": STR,
    "capability": STR,
    "target": STR,
    "error": obj({"code": STR, "message": STR}),
    "attempt_count": INT,
    "status": enum("pending", "replayed"),
    "replays": INT,
    "last_replay_at": nullable(TIME),
    "last_replay_outcome": nullable(STR),
    "last_replay_request_id": nullable(STR),
    "created_at": TIME,
}
DEAD_LETTERS = obj({"data": arr(obj(_DEAD_LETTER_FIELDS)), "total": INT})
DEAD_LETTER = obj({**_DEAD_LETTER_FIELDS, "payload": OBJ, "attempts": arr(OBJ)})
REPLAY = obj(
    {"id": STR, "request_id": STR, "outcome": STR, "status": nullable(INT)},
    {"error": ENVELOPE_ERROR["properties"]["error"], "data": ANY},
)

# -- health, alerts, metrics -------------------------------------------------------------------------
HEALTH_REPORT = obj(
    {
        "provider": STR,
        "is_healthy": BOOL,
        "response_time_ms": nullable(NUM),
        "error_rate": NUM,
        "last_checked": nullable(TIME),
        "consecutive_failures": INT,
        "score": NUM,
        "window": OBJ,
        "last_error": nullable(STR),
    }
)
CONNECTION_STATUS = obj(
    {
        "provider": STR,
        "project_id": nullable(STR),
        "status": enum("ok", "failed", "unchecked"),
        "latency_ms": nullable(NUM),
        "error_code": nullable(STR),
        "error": nullable(STR),
    }
)
ALERTS = data_of(arr(obj({"type": STR, "timestamp": TIME, "data": OBJ})))
_STATS = {
    "requests": INT,
    "errors": INT,
    "error_rate": NUM,
    **_TOKENS,
    "total_tokens": INT,
    "cost_usd": nullable(NUM),
    "avg_latency_ms": nullable(NUM),
    "max_latency_ms": nullable(NUM),
}
METRICS = obj(
    {
        "time_range": obj({"since": TIME, "until": TIME, "step_seconds": INT}),
        "totals": obj(_STATS),
        "providers": arr(obj({"provider": STR, **_STATS})),
        "series": arr(obj({"at": TIME, **_STATS})),
    }
)
USAGE_STATS = obj(
    {"time_range": obj({"since": TIME, "until": TIME}), "data": arr(obj({"provider": STR, "model": STR, **_STATS}))}
)

# -- governance --------------------------------------------------------------------------------------
CACHE_STATS = data_of(obj({"hits": INT, "misses": INT, "hit_rate": NUM, "entries": INT, "bytes": INT}))
CACHE_CLEARED = data_of(obj({"removed": INT}))
_PRICED = {"cost_usd": nullable(NUM), "input_per_mtok": nullable(NUM), "output_per_mtok": nullable(NUM)}
ESTIMATE = data_of(
    obj(
        {
            "model": STR,
            **_TOKENS,
            "estimated": BOOL,
            "cost_usd": nullable(NUM),
            "max_cost_usd": nullable(NUM),
            "targets": arr(obj({"provider": STR, "model": STR, **_PRICED})),
        }
    )
)
BUDGETS = data_of(
    arr(
        obj(
            {
                "kind": enum("project", "key"),
                "id": STR,
                "period": STR,
                "usd": NUM,
                "spent": NUM,
                "soft_ratio": NUM,
                "alert": BOOL,
                "exhausted": BOOL,
            }
        )
    )
)
_LIMIT_VALUES = {
    "requests_per_minute": nullable(INT),
    "requests_per_hour": nullable(INT),
    "tokens_per_minute": nullable(INT),
    "concurrent": nullable(INT),
}
# A subject's limit in force: stored through the API (source "api") or the configuration file's.
LIMIT = obj(
    {"source": enum("api", "config")},
    {"kind": enum("key", "project"), "subject_id": STR, "project_id": nullable(STR), **_LIMIT_VALUES}
    | {"set_by_global": BOOL, "updated_at": TIME},
)
LIMITS = data_of(
    obj(
        {
            "burst": NUM,
            "default_key": nullable(obj({}, _LIMIT_VALUES)),
            "keys": map_of(LIMIT),
            "projects": map_of(LIMIT),
        }
    )
)

# -- system --------------------------------------------------------------------------------------------
LIVENESS = obj({"status": {"const": "ok"}, "service": STR})
READINESS = obj({"status": enum("ready", "not_ready"), "checks": map_of(STR)})

# Embeddings: one vector per input, float values or base64 of little-endian float32 (encoding_format).
EMBEDDINGS = obj(
    {
        "object": {"const": "list"},
        "data": arr(
            obj(
                {
                    "object": {"const": "embedding"},
                    "index": {"type": "integer", "minimum": 0},
                    "embedding": {
                        "oneOf": [arr(NUM), {"type": "string", "contentEncoding": "base64"}],
                    },
                }
            )
        ),
        "model": STR,
        "usage": obj({"prompt_tokens": INT, "total_tokens": INT}),
    }
)
RERANK = obj(
    {
        "model": STR,
        "results": arr(obj({"index": INT, "relevance_score": NUM}, {"document": ANY})),
        "usage": obj({"search_units": INT, "total_tokens": INT}),
    },
    {"id": nullable(STR)},
)
PROVIDER_MODELS = obj(
    {
        "provider": STR,
        "source": enum("live", "declared"),
        "fetched_at": nullable(TIME),
        "checked": BOOL,
        "error": nullable(STR),
        "models": arr(STR),
    }
)
