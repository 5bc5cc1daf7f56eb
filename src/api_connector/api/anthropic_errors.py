"""Errors in Anthropic's shape, for the Anthropic Messages routes (``/v1/messages...``).

``{"type": "error", "error": {"type", "message", "details"?}, "request_id"}``: the answer's status is
the gateway's own (as on every route), the ``error.type`` the Anthropic type callers and SDKs branch on.
The gateway's stable code is ``error.details.error_code`` (where Anthropic puts its own codes), with
the provider and what the gateway knows of the failure beside it.
"""

from __future__ import annotations

from typing import Any

import orjson

from api_connector.errors import ConnectorError, Overloaded, UpstreamError
from api_connector.observability.redaction import Redactor

MESSAGES_PATH = "/v1/messages"
# The documented types by status; any other 4xx is an invalid request.
_BY_STATUS = {
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# Upstream answers that say the provider is overloaded rather than broken.
_OVERLOADED_STATUSES = frozenset({503, 529})


def uses_anthropic_shape(path: str) -> bool:
    return path == MESSAGES_PATH or path.startswith(MESSAGES_PATH + "/")


def anthropic_error_type(error: ConnectorError) -> str:
    status = error.with_status()
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status < 500:
        return "invalid_request_error"
    if isinstance(error, Overloaded) or _upstream_overloaded(error):
        return "overloaded_error"
    return "api_error"


def _upstream_overloaded(error: ConnectorError) -> bool:
    if not isinstance(error, UpstreamError):
        return False
    said = (error.details or {}).get("upstream_type")
    return error.upstream_status in _OVERLOADED_STATUSES or (isinstance(said, str) and "overloaded" in said)


def anthropic_error_body(error: ConnectorError, redactor: Redactor, request_id: str) -> dict[str, Any]:
    details: dict[str, Any] = {"error_code": error.code}
    if error.provider:
        details["provider"] = error.provider
    if error.param:
        details["param"] = error.param
    if error.details:
        details.update(error.details)
    body = {
        "type": anthropic_error_type(error),
        "message": redactor.scrub(error.message),
        # Scrubbed as text: details may quote what a provider said.
        "details": orjson.loads(redactor.scrub(orjson.dumps(details, default=str).decode("utf-8"))),
    }
    return {"type": "error", "error": body, "request_id": request_id}
