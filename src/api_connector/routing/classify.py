"""The one place that turns an upstream outcome into a failure class, and a failure class into a decision.

An outcome is an HTTP status with what the vendor said (``classify_status``), an error event inside a
stream (``classify_vendor_error``), or an exception (``classify_exception``; the transport has already
translated its client library's exceptions into the error tree). Retry, failover, the circuit breaker
and the dead-letter queue act on ``decide(error)``; nobody else reads status codes or error classes to
decide. Vendor error types and codes refine the status: a 400 saying the context is too long is
``context_length_exceeded``; a 429 about billing is ``quota_exhausted`` (retrying cannot help) unless
the vendor says when to come back (Google words every 429 as a quota, its per-minute ones included);
a 400 saying the key is invalid (Google's answer to a bad API key) is ``auth_failed``.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from api_connector.errors import (
    AllTargetsFailed,
    CircuitOpen,
    ConnectorError,
    ContentFiltered,
    ContextLengthExceeded,
    CredentialError,
    DeadlinePassed,
    ProviderAtLimit,
    QuotaExhausted,
    RateLimited,
    RequestError,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamConnectError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamPermissionDenied,
    UpstreamProtocolError,
    UpstreamServerError,
    UpstreamTimeout,
)
from api_connector.wire.base import VendorError

_CONTEXT_HINTS = (
    "context_length",
    "context length",
    "maximum context",
    "too many tokens",
    "prompt is too long",
    "input is too long",
)
_CONTENT_HINTS = ("content_filter", "content_policy", "content management policy", "safety")
_QUOTA_HINTS = ("insufficient_quota", "quota", "billing", "credit balance")
_AUTH_HINTS = ("api_key_invalid", "api key not valid", "api_key_expired")
# Vendors that answer a bad key with a 400 rather than a 401 (xAI: "Incorrect API key provided").
_KEY_HINTS = ("incorrect api key", "invalid api key", "invalid_api_key")
# A 403 whose type says the credential itself was refused (AWS answers a bad or expired key, or a
# signature made with the wrong secret, with 403): the target's credential is broken, not its permissions.
_CREDENTIAL_HINTS = ("unrecognizedclient", "invalidsignature", "signaturedoesnotmatch", "expiredtoken")
# In-stream error events carry a type but no status; these words in it stand for the status (Google's
# canonical codes included: its stream errors are google.rpc.Status objects).
_VENDOR_TYPE_STATUS = (
    ("rate_limit", 429),
    ("resource_exhausted", 429),
    ("overloaded", 529),
    ("authentication", 401),
    ("unauthenticated", 401),
    ("permission", 403),
    ("not_found", 404),
    ("invalid_request", 400),
    ("invalid_argument", 400),
    ("content_filter", 400),
    ("timeout", 504),
    ("deadline_exceeded", 504),
    ("unavailable", 503),
)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the router does after a failure."""

    retry: bool  # try the same target again (after a backoff)
    failover: bool  # move on to the next target
    breaker_failure: bool  # counts against the target's health
    dead_letter: bool  # if it is the request's final failure, keep the request for replay


# Caller faults: every target would refuse the request the same way.
_CALLER_FAULT = Decision(retry=False, failover=False, breaker_failure=False, dead_letter=False)
# The provider is in trouble (down, slow, overloaded): try again, elsewhere if need be.
_TRANSIENT = Decision(retry=True, failover=True, breaker_failure=True, dead_letter=True)
# This target cannot serve (bad or exhausted key, no such model there); another one may.
_TARGET_BROKEN = Decision(retry=False, failover=True, breaker_failure=True, dead_letter=True)
_TARGET_UNSUITED = Decision(retry=False, failover=True, breaker_failure=False, dead_letter=True)
# Too long for this model; a target with a larger context window may take it. Not the provider's fault.
_TOO_LONG = Decision(retry=False, failover=True, breaker_failure=False, dead_letter=False)
# The gateway's own refusal (a provider at its configured limit): nothing was sent, nothing is wrong
# with the provider; another target may have room, and the caller is told when to come back.
_GATEWAY_REFUSAL = Decision(retry=False, failover=True, breaker_failure=False, dead_letter=False)

# Most specific class first: ContextLengthExceeded and ContentFiltered are UpstreamBadRequests.
_DECISIONS: tuple[tuple[type[ConnectorError], Decision], ...] = (
    (ProviderAtLimit, _GATEWAY_REFUSAL),
    (ContextLengthExceeded, _TOO_LONG),
    (ContentFiltered, _CALLER_FAULT),
    (DeadlinePassed, _CALLER_FAULT),  # the caller's deadline, not the provider: no other target has more time
    (UpstreamBadRequest, _CALLER_FAULT),
    (UpstreamAuthFailed, _TARGET_BROKEN),
    (QuotaExhausted, _TARGET_BROKEN),
    (UpstreamPermissionDenied, _TARGET_UNSUITED),
    (UpstreamNotFound, _TARGET_UNSUITED),
    (CircuitOpen, _TARGET_UNSUITED),
    (AllTargetsFailed, _TARGET_UNSUITED),
    (RateLimited, _TRANSIENT),
    (UpstreamTimeout, _TRANSIENT),
    (UpstreamConnectError, _TRANSIENT),
    (UpstreamServerError, _TRANSIENT),
    (UpstreamProtocolError, _TRANSIENT),
    # Untranslatable for this target's wire, or its credential cannot be had: pass it over.
    (RequestError, Decision(retry=False, failover=True, breaker_failure=False, dead_letter=False)),
    (CredentialError, _TARGET_UNSUITED),
)
_BY_CLASS: dict[type[ConnectorError], Decision] = {}


# Failures after which the provider may have carried the request out (it was sent and no refusal came
# back): a request that is not safe to send twice stops there.
_MAY_HAVE_RUN = (UpstreamTimeout, UpstreamServerError, UpstreamProtocolError, UpstreamConnectError)


def decide(error: ConnectorError, resendable: bool = True) -> Decision:
    """The router's decision for ``error`` (looked up once per error class).

    ``resendable`` is False for a request that must not reach the provider twice (a POST of the
    generic API without an ``Idempotency-Key``, a capability declared not idempotent): after a failure
    that may have been carried out it is neither retried nor sent to another target.
    """
    found = _decision(error)
    if resendable or not (found.retry or found.failover) or not _maybe_ran(error):
        return found
    return Decision(retry=False, failover=False, breaker_failure=found.breaker_failure, dead_letter=found.dead_letter)


def _maybe_ran(error: ConnectorError) -> bool:
    return isinstance(error, _MAY_HAVE_RUN) and bool(getattr(error, "sent", True))


def _decision(error: ConnectorError) -> Decision:
    kind = type(error)
    found = _BY_CLASS.get(kind)
    if found is None:
        found = next((d for cls, d in _DECISIONS if isinstance(error, cls)), None)
        if found is None:
            found = _TRANSIENT if isinstance(error, UpstreamError) else _CALLER_FAULT
        _BY_CLASS[kind] = found
    return found


def classify_status(
    status: int,
    vendor: VendorError | None,
    headers: Mapping[str, str],
    *,
    provider: str,
) -> UpstreamError:
    """The failure an upstream answer with ``status`` stands for: >= 400, or for a typed capability
    (whose answer must be the API's own) anything below 200 or from 300."""
    message = vendor.message if vendor and vendor.message else f"upstream answered HTTP {status}"
    hints = " ".join(filter(None, (vendor.type, vendor.code, vendor.message) if vendor else ())).lower()
    kind: type[UpstreamError]
    if status < 400:
        # A redirect (the client never follows one: it could lead past the address guard) or another
        # answer that is not the API's: for a typed capability the exchange did not happen as declared.
        return UpstreamProtocolError(
            f"upstream answered HTTP {status} instead of an answer; redirects are not followed",
            provider=provider,
            upstream_status=status,
        )
    if status == 429:
        told_when = vendor is not None and vendor.retry_after is not None
        kind = QuotaExhausted if _has(hints, _QUOTA_HINTS) and not told_when else RateLimited
    elif status in (401, 407) or (status == 400 and _has(hints, _AUTH_HINTS)):
        kind = UpstreamAuthFailed
    elif status == 403:
        if _has(hints, _CREDENTIAL_HINTS):
            kind = UpstreamAuthFailed
        else:
            kind = ContentFiltered if _has(hints, _CONTENT_HINTS) else UpstreamPermissionDenied
    elif status == 404:
        kind = UpstreamNotFound
    elif status in (408, 504, 524):
        kind = UpstreamTimeout
    elif status == 424:
        # Failed Dependency: what the vendor relies on failed (Bedrock: the model behind it), not the request.
        kind = UpstreamServerError
    elif status == 413 or _has(hints, _CONTEXT_HINTS):
        kind = ContextLengthExceeded if status < 500 else UpstreamServerError
    elif status == 400 and _has(hints, _KEY_HINTS):
        kind = UpstreamAuthFailed
    elif 400 <= status < 500:
        kind = ContentFiltered if _has(hints, _CONTENT_HINTS) else UpstreamBadRequest
    else:
        # 500, 502, 503, 529 (overloaded) and anything unexpected: the provider's trouble, worth a retry.
        kind = UpstreamServerError
    details = {"upstream_type": vendor.type, "upstream_code": vendor.code} if vendor else None
    if vendor is not None and vendor.details:
        details = {**vendor.details, **(details or {})}
    return kind(
        message,
        provider=provider,
        details=details,
        param=vendor.param if vendor else None,
        upstream_status=status,
        # The body's own hint (e.g. Gemini's RetryInfo) is more precise than a generic header.
        retry_after=vendor.retry_after if vendor and vendor.retry_after is not None else retry_after_seconds(headers),
    )


def classify_token_refusal(
    status: int, vendor: VendorError | None, headers: Mapping[str, str], *, provider: str | None = None
) -> UpstreamError:
    """A token endpoint's answer that is not a token (OAuth 2.0: Entra ID, a service account's).

    The request the token was for was never sent. A refusal (a 4xx other than a timeout or a rate
    limit: ``invalid_client``, an unknown tenant, a revoked secret) means this target's credential
    cannot be had: the target cannot serve, as after a 401. Anything else is judged as any answer.
    """
    refused = 400 <= status < 500 and status not in (408, 429)
    failure = classify_status(401 if refused else status, vendor, headers, provider=provider or "")
    failure.provider = provider
    failure.upstream_status = status
    failure.sent = False
    return failure


def classify_vendor_error(vendor: VendorError, *, provider: str) -> UpstreamError:
    """An error event inside a stream (no HTTP status of its own): the status its vendor documents for
    it, else its type stands for one."""
    status = vendor.status
    if status is None:
        hints = " ".join(filter(None, (vendor.type, vendor.code))).lower()
        status = next((code for word, code in _VENDOR_TYPE_STATUS if word in hints), 500)
    return classify_status(status, vendor, {}, provider=provider)


def classify_exception(exc: BaseException, *, provider: str | None = None) -> UpstreamError:
    """An exception raised while talking to an upstream, as a failure of the error tree."""
    if isinstance(exc, UpstreamError):
        failure = exc
    elif isinstance(exc, TimeoutError):
        failure = UpstreamTimeout("upstream did not answer in time")
    elif isinstance(exc, ConnectionError | OSError):
        failure = UpstreamConnectError(f"connection to upstream failed: {type(exc).__name__}")
    else:
        failure = UpstreamProtocolError(f"upstream request failed: {type(exc).__name__}")
    failure.provider = failure.provider or provider
    return failure


def _has(text: str, hints: tuple[str, ...]) -> bool:
    return any(h in text for h in hints)


# Rate-limit reset headers, generic first. Values are seconds ("2", "0.5"), durations ("1m30s",
# "250ms"), an epoch timestamp, or an RFC 3339 instant.
_RESET_HEADERS = (
    "ratelimit-reset",
    "x-ratelimit-reset",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
)
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")
# A bare number above this is an epoch timestamp rather than a delay (about 3 years of seconds).
_EPOCH_THRESHOLD = 100_000_000


def retry_after_seconds(
    headers: Mapping[str, str], now: float | None = None, *, resets: tuple[str, ...] = _RESET_HEADERS
) -> float | None:
    """``Retry-After`` (seconds or HTTP-date), else the soonest rate-limit reset header (``resets``:
    the provider's own names, when it declares them), else None."""
    if not headers:
        return None
    clock = now if now is not None else time.time()
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
            parsed = _http_date(value)
            if parsed is not None:
                return max(0.0, parsed - clock)
    found = [s for s in (_reset_seconds(headers.get(name), clock) for name in resets) if s is not None]
    return min(found) if found else None


def _reset_seconds(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, number - now) if number > _EPOCH_THRESHOLD else max(0.0, number)
    match = _DURATION.match(value)
    if match and any(match.groups()):
        hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
        return hours * 3600 + minutes * 60 + seconds + millis / 1000
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, instant.timestamp() - now) if instant.tzinfo else None


def _http_date(value: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.timestamp() if parsed is not None else None


def is_failure(error: UpstreamError) -> bool:
    """Whether this failure speaks against the provider's health (caller faults do not)."""
    return decide(error).breaker_failure
