"""Rendering answers: JSON with orjson, and errors in the two formats callers expect.

The OpenAI-compatible routes answer errors as OpenAI does (``{"error": {message, type, code, param}}``)
so SDKs raise their usual exceptions; the generic request API answers the envelope.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from aiohttp import web

from api_connector.errors import ConnectorError
from api_connector.observability.redaction import Redactor

JSON_TYPE = "application/json"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON_TYPE, headers=headers)


def raw_json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON_TYPE)


def error_headers(error: ConnectorError) -> dict[str, str]:
    headers: dict[str, str] = {}
    # Upstream failures and the service's own refusals (admission control) both may say when to retry.
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        # Whole seconds, rounded up: coming back a fraction early would only be refused again.
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    extra = getattr(error, "headers", None)  # the gateway's own limits say where the caller stands
    if extra:
        headers.update(extra)
    return headers


def openai_error_body(error: ConnectorError, redactor: Redactor) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": redactor.scrub(error.message),
        "type": error.openai_type,
        "code": error.code,
        "param": error.param,
    }
    if error.provider:
        body["provider"] = error.provider
    if error.details:
        body["details"] = _scrubbed(error.details, redactor)
    return {"error": body}


def envelope_error(error: ConnectorError, redactor: Redactor) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": error.code,
        "message": redactor.scrub(error.message),
        "provider": error.provider,
        "retryable": error.retryable,
    }
    details = dict(error.details or {})
    if error.param:
        details["param"] = error.param
    if details:
        body["details"] = _scrubbed(details, redactor)
    return body


def _scrubbed(value: Any, redactor: Redactor) -> Any:
    return orjson.loads(redactor.scrub(orjson.dumps(value, default=str).decode("utf-8")))
