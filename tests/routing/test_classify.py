"""The one classifier: statuses, in-stream errors and exceptions to stable codes, codes to decisions."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest

from api_connector.errors import (
    AllTargetsFailed,
    CircuitOpen,
    CredentialError,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamTimeout,
    ValidationFailed,
)
from api_connector.routing.classify import (
    classify_exception,
    classify_status,
    classify_token_refusal,
    classify_vendor_error,
    decide,
    retry_after_seconds,
)
from api_connector.wire.base import VendorError

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "vendor", "code", "retryable"),
    [
        (400, None, "validation_error", False),
        (
            400,
            VendorError("This model's maximum context length is 8192 tokens", code="context_length_exceeded"),
            "context_length_exceeded",
            False,
        ),
        (400, VendorError("flagged", type="content_filter"), "content_filtered", False),
        (401, None, "auth_failed", False),
        (403, None, "permission_denied", False),
        (404, None, "not_found", False),
        (413, None, "context_length_exceeded", False),
        (429, None, "rate_limited", True),
        (429, VendorError("You exceeded your current quota", code="insufficient_quota"), "quota_exhausted", False),
        (500, None, "upstream_error", True),
        (502, None, "upstream_error", True),
        (503, None, "upstream_error", True),
        (504, None, "timeout", True),
        (529, None, "upstream_error", True),
    ],
)
def test_statuses_become_stable_codes(status: int, vendor: VendorError | None, code: str, retryable: bool) -> None:
    error = classify_status(status, vendor, {}, provider="p")
    assert (error.code, error.retryable, error.upstream_status, error.provider) == (code, retryable, status, "p")


@pytest.mark.parametrize(
    ("vendor_type", "code"),
    [
        ("overloaded_error", "upstream_error"),
        ("rate_limit_error", "rate_limited"),
        ("api_error", "upstream_error"),
        ("invalid_request_error", "validation_error"),
        ("authentication_error", "auth_failed"),
    ],
)
def test_in_stream_errors_are_classified_by_their_type(vendor_type: str, code: str) -> None:
    assert classify_vendor_error(VendorError("boom", type=vendor_type), provider="p").code == code


def test_exceptions_become_failures_of_the_tree() -> None:
    assert isinstance(classify_exception(TimeoutError(), provider="p"), UpstreamTimeout)
    assert isinstance(classify_exception(ConnectionResetError(), provider="p"), UpstreamConnectError)
    assert isinstance(classify_exception(ValueError("x"), provider="p"), UpstreamProtocolError)
    same = UpstreamTimeout("t")
    assert classify_exception(same, provider="p") is same and same.provider == "p"


@pytest.mark.parametrize(
    ("error", "retry", "failover", "breaker", "dead_letter"),
    [
        (classify_status(400, None, {}, provider="p"), False, False, False, False),
        (classify_status(400, VendorError("maximum context length"), {}, provider="p"), False, True, False, False),
        (classify_status(401, None, {}, provider="p"), False, True, True, True),
        (classify_status(404, None, {}, provider="p"), False, True, False, True),
        (classify_status(429, None, {}, provider="p"), True, True, True, True),
        (classify_status(429, VendorError("insufficient_quota"), {}, provider="p"), False, True, True, True),
        (classify_status(503, None, {}, provider="p"), True, True, True, True),
        (UpstreamTimeout("t"), True, True, True, True),
        (UpstreamConnectError("c"), True, True, True, True),
        (UpstreamProtocolError("p"), True, True, True, True),
        (CircuitOpen("open"), False, True, False, True),
        (AllTargetsFailed([UpstreamTimeout("t")]), False, True, False, True),
        (CredentialError("missing"), False, True, False, True),
        (ValidationFailed("untranslatable"), False, True, False, False),
    ],
)
def test_decisions(error: Exception, retry: bool, failover: bool, breaker: bool, dead_letter: bool) -> None:
    decision = decide(error)  # type: ignore[arg-type]
    assert (decision.retry, decision.failover, decision.breaker_failure, decision.dead_letter) == (
        retry,
        failover,
        breaker,
        dead_letter,
    )


def test_retry_after_in_seconds_milliseconds_and_http_date() -> None:
    assert retry_after_seconds({"retry-after": "2"}, NOW) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500"}, NOW) == 1.5
    later = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=7)
    assert retry_after_seconds({"retry-after": email.utils.format_datetime(later, usegmt=True)}, NOW) == 7.0
    assert retry_after_seconds({"retry-after": "not a date"}, NOW) is None
    assert retry_after_seconds({}, NOW) is None


def test_rate_limit_reset_headers() -> None:
    # Durations as OpenAI writes them, seconds, epoch timestamps and RFC 3339 instants; the soonest wins.
    assert retry_after_seconds({"x-ratelimit-reset-requests": "1m30s"}, NOW) == 90.0
    assert retry_after_seconds({"x-ratelimit-reset-tokens": "250ms"}, NOW) == 0.25
    assert retry_after_seconds({"ratelimit-reset": "3"}, NOW) == 3.0
    assert retry_after_seconds({"x-ratelimit-reset": str(int(NOW + 12))}, NOW) == 12.0
    instant = (datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=4)).isoformat().replace("+00:00", "Z")
    assert retry_after_seconds({"anthropic-ratelimit-requests-reset": instant}, NOW) == 4.0
    both = {"x-ratelimit-reset-requests": "20s", "x-ratelimit-reset-tokens": "2s"}
    assert retry_after_seconds(both, NOW) == 2.0
    # Retry-After, when present, is what the provider asked for.
    assert retry_after_seconds({"retry-after": "5", "x-ratelimit-reset-tokens": "1s"}, NOW) == 5.0


def test_429_carries_the_reset_as_retry_after() -> None:
    error = classify_status(429, None, {"x-ratelimit-reset-requests": "2s"}, provider="p")
    assert error.retry_after == 2.0


@pytest.mark.parametrize(
    ("vendor", "status", "code"),
    [
        # AWS answers a refused credential with 403: the type says it is the credential, not a permission.
        (VendorError("The security token included in the request is invalid.", type="UnrecognizedClientException"),
         403, "auth_failed"),
        (VendorError("The request signature we calculated does not match", type="InvalidSignatureException"),
         403, "auth_failed"),
        (VendorError("The security token included in the request is expired", type="ExpiredTokenException"),
         403, "auth_failed"),
        (VendorError("You don't have access to the model", type="AccessDeniedException"), 403, "permission_denied"),
        (VendorError("Input is too long for requested model.", type="ValidationException"), 400,
         "context_length_exceeded"),
        # Failed Dependency: the model behind the vendor failed (Bedrock's ModelErrorException).
        (VendorError("The model failed.", type="ModelErrorException"), 424, "upstream_error"),
    ],
)
def test_aws_error_kinds(vendor: VendorError, status: int, code: str) -> None:
    assert classify_status(status, vendor, {}, provider="p").code == code


# -- vendors' quirks and token endpoints ---------------------------------------------------------------


def test_a_wrong_key_answered_with_400_is_an_authentication_failure() -> None:
    # xAI: {"code": "Client specified an invalid argument", "error": "Incorrect API key provided: ..."}
    said = VendorError("Incorrect API key provided: xa***kY. You can obtain an API key from https://console.x.ai.")
    failure = classify_status(400, said, {}, provider="xai")
    assert failure.code == "auth_failed" and failure.status == 401
    assert decide(failure).failover and not decide(failure).retry
    assert classify_status(400, VendorError("Invalid value for 'temperature'"), {}, provider="xai").code == (
        "validation_error"
    )


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(400, "auth_failed", False), (401, "auth_failed", False), (403, "auth_failed", False),
     (429, "rate_limited", True), (408, "timeout", True), (500, "upstream_error", True), (302, "protocol_error", True)],
)
def test_a_token_endpoints_answer(status: int, code: str, retryable: bool) -> None:
    said = VendorError("AADSTS7000215: Invalid client secret provided.", code="invalid_client")
    failure = classify_token_refusal(status, said, {"retry-after": "3"})
    assert (failure.code, failure.retryable, failure.upstream_status, failure.sent) == (code, retryable, status, False)
    assert failure.provider is None, "the router names the target"


def test_what_a_vendor_adds_to_its_error_reaches_the_details() -> None:
    verdicts = {"content_filter_results": {"hate": {"filtered": True}}}
    said = VendorError("filtered", code="content_filter", details=verdicts)
    failure = classify_status(400, said, {}, provider="azure")
    assert failure.code == "content_filtered"
    assert failure.details == {"content_filter_results": {"hate": {"filtered": True}}, "upstream_type": None,
                               "upstream_code": "content_filter"}


def test_a_provider_may_name_its_own_reset_headers() -> None:
    headers = {"x-ratelimit-reset-tokens-minute": "11.5", "x-ratelimit-reset": "40"}
    assert retry_after_seconds(headers, NOW) == 40.0
    assert retry_after_seconds(headers, NOW, resets=("x-ratelimit-reset-tokens-minute",)) == 11.5


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(429, "rate_limited", True), (400, "validation_error", False), (424, "upstream_error", True),
     (503, "upstream_error", True), (408, "timeout", True)],
)
def test_an_in_stream_error_with_a_documented_status_is_classified_by_it(status: int, code: str,
                                                                          retryable: bool) -> None:
    # Its type says nothing the word table knows: the vendor's documented status decides.
    error = classify_vendor_error(VendorError("boom", type="SomeException", status=status), provider="p")
    assert (error.code, error.retryable, error.upstream_status) == (code, retryable, status)
