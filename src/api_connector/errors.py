"""The whole exception tree of api-connector.

Every error the service can answer with is one of these classes; each knows its HTTP status, its stable
``code`` (what callers branch on), whether retrying may help, and which OpenAI error ``type`` it maps to.
Foreign exceptions (HTTP client, database drivers) are translated where they enter.

    ConnectorError                      500 internal_error
    ├── ConfigError                     (start-up: bad setting or configuration file)
    ├── ClientClosed                    499 client_closed (the caller left before its answer was delivered)
    ├── RequestError                    caller faults, never retried
    │   ├── ValidationFailed            400 validation_error
    │   │   ├── InvalidJSON             400 invalid_json
    │   │   ├── InvalidLimit            400 invalid_limit (admin API: a limit without values or malformed)
    │   │   ├── LimitAboveCeiling       400 limit_above_ceiling (a project admin above the operator's limit)
    │   │   ├── PreviousResponseNotFound 400 previous_response_not_found (Responses: no such stored response)
    │   │   └── UnsupportedParameter    400 unsupported_parameter (a field the target's wire cannot carry)
    │   ├── PayloadTooLarge             413 payload_too_large
    │   │   └── AudioTooLarge           413 audio_too_large (an upload beyond MAX_AUDIO_BYTES)
    │   ├── AuthenticationRequired      401 missing_api_key
    │   ├── InvalidAPIKey               401 invalid_api_key
    │   ├── InvalidMetricsToken         401 invalid_metrics_token (GET /metrics without METRICS_TOKEN)
    │   ├── PermissionDenied            403 permission_denied
    │   │   └── LimitLocked             403 limit_locked (set by a global admin; project admins cannot loosen it)
    │   ├── NotFound                    404 not_found
    │   │   ├── RouteNotFound           404 route_not_found
    │   │   ├── UnknownModel            404 model_not_found
    │   │   └── UnknownProvider         404 provider_not_found
    │   ├── MethodNotAllowed            405 method_not_allowed
    │   ├── Conflict                    409 conflict
    │   │   └── LimitExists             409 limit_exists (POST of a limit the subject already has; PUT replaces)
    │   ├── CapabilityUnsupported       400 capability_unsupported
    │   └── CredentialRejected          422 credential_rejected (the provider refused it)
    ├── StorageUnavailable              503 storage_unavailable (retryable)
    │   └── SharedStateUnavailable      503 storage_unavailable (the shared Redis did not answer)
    ├── ConnectionsFailed               503 connections_failed (retryable; a strict connection refresh)
    ├── Overloaded                      503 overloaded (retryable; admission control, Retry-After)
    ├── LimitExceeded                   429 rate_limited (retryable; gateway limits, x-ratelimit-*)
    ├── AuthThrottled                   429 auth_throttled (too many failed authentications from an address)
    ├── LimiterUnavailable              503 limiter_unavailable (shared limit store down, fail closed)
    ├── BudgetExceeded                  402 budget_exceeded (hard budget stop)
    ├── CredentialError                 500 credential_unavailable
    │   ├── DecryptionFailed            500 decryption_failed
    │   ├── CredentialMalformed         500 credential_malformed (a structured secret not of its kind)
    │   ├── SecretStoreUnavailable      503 secret_store_unavailable (retryable)
    │   ├── ServiceAccountInvalid       500 service_account_invalid (a Google credential that is not a key)
    │   └── TokenExchangeFailed         502 token_exchange_failed (a token endpoint refused or is down)
    └── UpstreamError                   a provider's failure (provider name attached)
        ├── UpstreamAuthFailed          401 auth_failed
        ├── UpstreamPermissionDenied    403 permission_denied
        ├── UpstreamNotFound            404 not_found
        ├── UpstreamBadRequest          400 validation_error
        ├── ContextLengthExceeded       400 context_length_exceeded
        ├── ContentFiltered             400 content_filtered
        ├── RateLimited                 429 rate_limited        (retryable)
        │   └── ProviderAtLimit         429 rate_limited (the gateway's own: a provider's configured limit)
        ├── QuotaExhausted              429 quota_exhausted
        ├── UpstreamTimeout             504 timeout             (retryable)
        │   └── DeadlinePassed          504 timeout             (the caller's deadline, before any attempt)
        ├── UpstreamConnectError        502 connect_error       (retryable)
        │   └── AddressForbidden        502 connect_error       (the address policy refused every address)
        ├── UpstreamServerError         502 upstream_error      (retryable)
        ├── UpstreamProtocolError       502 protocol_error      (retryable)
        ├── CircuitOpen                 503 circuit_open        (retryable)
        └── AllTargetsFailed            502 all_targets_failed
"""

from __future__ import annotations

from typing import Any, ClassVar


class ConnectorError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = False
    openai_type: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        details: dict[str, Any] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.details = details
        self.param = param

    def with_status(self) -> int:
        return self.status


class ConfigError(ConnectorError):
    code = "config_error"


class ClientClosed(ConnectorError):
    """Recorded, never answered: nobody is left to read it."""

    status = 499
    code = "client_closed"


class RequestError(ConnectorError):
    status = 400
    code = "invalid_request"
    openai_type = "invalid_request_error"


class ValidationFailed(RequestError):
    code = "validation_error"


class InvalidJSON(ValidationFailed):
    code = "invalid_json"


class InvalidLimit(ValidationFailed):
    code = "invalid_limit"


class LimitAboveCeiling(ValidationFailed):
    code = "limit_above_ceiling"


class PreviousResponseNotFound(ValidationFailed):
    """``previous_response_id`` names no response this project has stored (OpenAI's code for it)."""

    code = "previous_response_not_found"


class UnsupportedParameter(ValidationFailed):
    """A field of the caller's request that the target's wire cannot carry to its vendor (``param`` names
    it): refused rather than left out unseen. Routing passes the target over, as any it cannot use."""

    code = "unsupported_parameter"


class PayloadTooLarge(RequestError):
    status = 413
    code = "payload_too_large"


class AudioTooLarge(PayloadTooLarge):
    """An audio upload beyond ``MAX_AUDIO_BYTES`` (refused as it arrives, never read to its end)."""

    code = "audio_too_large"


class AuthenticationRequired(RequestError):
    status = 401
    code = "missing_api_key"
    openai_type = "authentication_error"


class InvalidAPIKey(AuthenticationRequired):
    code = "invalid_api_key"


class InvalidMetricsToken(AuthenticationRequired):
    """``GET /metrics`` without the bearer token the operator set (missing and wrong alike)."""

    code = "invalid_metrics_token"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="metrics"'}


class PermissionDenied(RequestError):
    status = 403
    code = "permission_denied"
    openai_type = "permission_error"


class LimitLocked(PermissionDenied):
    code = "limit_locked"


class NotFound(RequestError):
    status = 404
    code = "not_found"
    openai_type = "not_found_error"


class RouteNotFound(NotFound):
    code = "route_not_found"


class MethodNotAllowed(RequestError):
    status = 405
    code = "method_not_allowed"


class UnknownModel(NotFound):
    code = "model_not_found"


class UnknownProvider(NotFound):
    code = "provider_not_found"


class Conflict(RequestError):
    status = 409
    code = "conflict"


class LimitExists(Conflict):
    code = "limit_exists"


class CapabilityUnsupported(RequestError):
    code = "capability_unsupported"


class CredentialRejected(RequestError):
    """A provider's verification probe refused the credential; the message is the provider's reason."""

    status = 422
    code = "credential_rejected"


class StorageUnavailable(ConnectorError):
    status = 503
    code = "storage_unavailable"
    retryable = True


class SharedStateUnavailable(StorageUnavailable):
    """Redis (shared state) could not be reached or refused a command: what ``storage`` raises for any
    of the client's failures, so no caller above it handles the client's exceptions."""


class ConnectionsFailed(ConnectorError):
    """A strict initialize or refresh of connections in which some provider could not be reached;
    ``details["providers"]`` holds every provider's status."""

    status = 503
    code = "connections_failed"
    retryable = True


class Overloaded(ConnectorError):
    """The service is at its in-flight limit for this request's priority; ``retry_after`` in seconds."""

    status = 503
    code = "overloaded"
    retryable = True

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after: float | None = retry_after


class LimitExceeded(ConnectorError):
    """A caller or provider limit of this gateway refused the request; ``headers`` are x-ratelimit-*."""

    status = 429
    code = "rate_limited"
    retryable = True
    openai_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.retry_after: float | None = retry_after
        self.headers = headers or {}


class AuthThrottled(ConnectorError):
    """An address presented too many invalid gateway keys: refused before any key lookup."""

    status = 429
    code = "auth_throttled"
    retryable = True
    openai_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after: float | None = retry_after


class LimiterUnavailable(ConnectorError):
    """The shared limit store is unreachable and the deployment chose to fail closed."""

    status = 503
    code = "limiter_unavailable"
    retryable = True

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after: float | None = retry_after


class BudgetExceeded(ConnectorError):
    """The project's or key's spending budget for the period is used up (hard stop, before the call)."""

    status = 402
    code = "budget_exceeded"
    openai_type = "insufficient_quota"


class CredentialError(ConnectorError):
    code = "credential_unavailable"


class DecryptionFailed(CredentialError):
    code = "decryption_failed"


class CredentialMalformed(CredentialError):
    """A structured secret (JSON) that is not what its provider's auth strategy takes.

    The message names the fields that are missing or wrong, never their values: the text may be a
    secret pasted in the wrong place.
    """

    code = "credential_malformed"


class SecretStoreUnavailable(CredentialError):
    """An external secret store (OpenBao/Vault, AWS Secrets Manager) could not be reached."""

    status = 503
    code = "secret_store_unavailable"
    retryable = True


class ServiceAccountInvalid(CredentialError):
    """A credential that must be a Google service-account key is not one (the message never quotes it)."""

    code = "service_account_invalid"


class TokenExchangeFailed(CredentialError):
    """A token endpoint refused the credential's assertion or grant, or could not be reached."""

    status = 502
    code = "token_exchange_failed"


class UpstreamError(ConnectorError):
    """A provider failed; the message is the provider's own (secrets scrubbed)."""

    status = 502
    code = "upstream_error"
    upstream_status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        details: dict[str, Any] | None = None,
        param: str | None = None,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message, provider=provider, details=details, param=param)
        self.upstream_status = upstream_status
        self.retry_after = retry_after
        # False when the request never left (no connection could be made): sending it again is safe
        # whatever it does at the provider.
        self.sent = sent


class UpstreamAuthFailed(UpstreamError):
    status = 401
    code = "auth_failed"
    openai_type = "authentication_error"


class UpstreamPermissionDenied(UpstreamError):
    status = 403
    code = "permission_denied"
    openai_type = "permission_error"


class UpstreamNotFound(UpstreamError):
    status = 404
    code = "not_found"
    openai_type = "not_found_error"


class UpstreamBadRequest(UpstreamError):
    status = 400
    code = "validation_error"
    openai_type = "invalid_request_error"


class ContextLengthExceeded(UpstreamBadRequest):
    code = "context_length_exceeded"


class ContentFiltered(UpstreamBadRequest):
    code = "content_filtered"


class RateLimited(UpstreamError):
    status = 429
    code = "rate_limited"
    retryable = True
    openai_type = "rate_limit_error"


class ProviderAtLimit(RateLimited):
    """The gateway's own refusal: a provider credential is at the rate limit configured for it.

    Nothing was sent; the provider is healthy. Routing passes the target over without counting it
    against its breaker or health, and the caller gets 429 with the time the next slot frees.
    """

    def __init__(self, message: str, *, provider: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, provider=provider, retry_after=retry_after, sent=False)


class QuotaExhausted(UpstreamError):
    status = 429
    code = "quota_exhausted"
    openai_type = "insufficient_quota"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "timeout"
    retryable = True
    openai_type = "timeout_error"


class DeadlinePassed(UpstreamTimeout):
    """The caller's own deadline ran out before an attempt could be sent: nothing reached the provider,
    so nothing is held against it (breaker, health), retried elsewhere or kept as a dead letter."""


class UpstreamConnectError(UpstreamError):
    code = "connect_error"
    retryable = True


class AddressForbidden(UpstreamConnectError):
    """Every address of the host is one the SSRF policy refuses: nothing was contacted. Callers that
    retry on their own (alert deliveries) stop here: the same address would be refused again."""


class UpstreamServerError(UpstreamError):
    code = "upstream_error"
    retryable = True


class UpstreamProtocolError(UpstreamError):
    code = "protocol_error"
    retryable = True


class CircuitOpen(UpstreamError):
    status = 503
    code = "circuit_open"
    retryable = True


class AllTargetsFailed(UpstreamError):
    """Every target of a route failed; ``attempts`` lists each failure in order."""

    code = "all_targets_failed"

    def __init__(
        self, attempts: list[UpstreamError], *, provider: str | None = None, retry_after: float | None = None
    ) -> None:
        last = attempts[-1] if attempts else None
        message = last.message if last else "no target could serve the request"
        details = {
            "attempts": [
                {"provider": a.provider, "code": a.code, "status": a.upstream_status, "message": a.message}
                for a in attempts
            ]
        }
        super().__init__(
            message,
            provider=provider or (last.provider if last else None),
            details=details,
            upstream_status=last.upstream_status if last else None,
            retry_after=retry_after if retry_after is not None else (last.retry_after if last else None),
        )
        self.attempts = attempts
        # The caller sees the status class of the last failure: a 429 stays a 429, a 5xx a 502.
        self.final_status = last.status if last else 502

    def with_status(self) -> int:
        return self.final_status
