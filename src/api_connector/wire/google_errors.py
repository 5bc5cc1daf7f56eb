"""Google APIs' error body (``google.rpc.Status`` as JSON), shared by every Gemini wire.

``{"error": {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED", "details": [...]}}``, sometimes
wrapped in a one-element list. ``status`` is the type; an ``ErrorInfo`` detail's ``reason``
(``API_KEY_INVALID``) is the code; a ``RetryInfo`` detail's ``retryDelay`` (a protobuf Duration such as
``"34.4s"``) says when to come back, more precisely than any header.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from api_connector.wire.base import VendorError

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Detail(_Lenient):
    type: str = Field("", alias="@type")
    retry_delay: str | None = Field(None, alias="retryDelay")
    reason: str | None = None


class _Status(_Lenient):
    code: int | None = None
    message: str = ""
    status: str | None = None
    details: list[_Detail] = []


class _Envelope(_Lenient):
    error: _Status


_WRAPPED = TypeAdapter(list[_Envelope])


def protobuf_seconds(duration: str | None) -> float | None:
    """A protobuf Duration in JSON ("34.4s") in seconds; None when absent or not one."""
    if not duration or not duration.endswith("s"):
        return None
    try:
        return max(0.0, float(duration[:-1]))
    except ValueError:
        return None


def decode_google_error(body: bytes) -> VendorError | None:
    try:
        status = _Envelope.model_validate_json(body).error
    except ValidationError:
        try:
            wrapped = _WRAPPED.validate_json(body)
        except ValidationError:
            return None
        if not wrapped:
            return None
        status = wrapped[0].error
    retry_after = next((protobuf_seconds(d.retry_delay) for d in status.details if d.type == _RETRY_INFO), None)
    reason = next((d.reason for d in status.details if d.type == _ERROR_INFO and d.reason), None)
    return VendorError(message=status.message, type=status.status, code=reason, retry_after=retry_after)
