"""The one place that turns an upstream status (and what the vendor said) into a failure class.

Retry, failover and the circuit breaker act on the class this module returns; nobody else reads status
codes to decide. Vendor error types and codes refine the status: a 400 saying the context is too long
is ``context_length_exceeded``; a 429 about billing is ``quota_exhausted`` (retrying cannot help).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from api_connector.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    QuotaExhausted,
    RateLimited,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamNotFound,
    UpstreamPermissionDenied,
    UpstreamServerError,
    UpstreamTimeout,
)
from api_connector.wire.base import VendorError

_CONTEXT_HINTS = ("context_length", "context length", "maximum context", "too many tokens", "prompt is too long")
_CONTENT_HINTS = ("content_filter", "content_policy", "content management policy", "safety")
_QUOTA_HINTS = ("insufficient_quota", "quota", "billing", "credit balance")


def classify_status(
    status: int,
    vendor: VendorError | None,
    headers: Mapping[str, str],
    *,
    provider: str,
) -> UpstreamError:
    """The failure an upstream answer with ``status`` >= 400 stands for."""
    message = vendor.message if vendor and vendor.message else f"upstream answered HTTP {status}"
    hints = " ".join(filter(None, (vendor.type, vendor.code, vendor.message) if vendor else ())).lower()
    kind: type[UpstreamError]
    if status == 429:
        kind = QuotaExhausted if _has(hints, _QUOTA_HINTS) else RateLimited
    elif status in (401, 407):
        kind = UpstreamAuthFailed
    elif status == 403:
        kind = ContentFiltered if _has(hints, _CONTENT_HINTS) else UpstreamPermissionDenied
    elif status == 404:
        kind = UpstreamNotFound
    elif status in (408, 504, 524):
        kind = UpstreamTimeout
    elif status == 413 or _has(hints, _CONTEXT_HINTS):
        kind = ContextLengthExceeded if status < 500 else UpstreamServerError
    elif 400 <= status < 500:
        kind = ContentFiltered if _has(hints, _CONTENT_HINTS) else UpstreamBadRequest
    else:
        # 500, 502, 503, 529 (overloaded) and anything unexpected: the provider's trouble, worth a retry.
        kind = UpstreamServerError
    details = {"upstream_type": vendor.type, "upstream_code": vendor.code} if vendor else None
    return kind(
        message,
        provider=provider,
        details=details,
        param=vendor.param if vendor else None,
        upstream_status=status,
        retry_after=retry_after_seconds(headers),
    )


def _has(text: str, hints: tuple[str, ...]) -> bool:
    return any(h in text for h in hints)


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP-date), else a vendor's reset header, else None."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if _looks_like_date(value) else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - (now if now is not None else time.time()))
    return None


def _looks_like_date(value: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False


def is_failure(error: UpstreamError) -> bool:
    """Whether this failure speaks against the provider's health (caller faults do not)."""
    return error.retryable or isinstance(error, UpstreamAuthFailed)
