"""AWS SigV4: the strategy's signature against botocore signing the same request on its own, and against
the signing process of AWS's documentation worked through by hand here; what it covers; malformed secrets."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from api_connector.auth.sigv4 import SigV4, access_keys, region_of
from api_connector.errors import CredentialError, CredentialMalformed
from tests.gateway import run_gateway

NOW = datetime.datetime(2025, 6, 11, 7, 23, 36)
KEY_ID = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SECRET = json.dumps({"access_key_id": KEY_ID, "secret_access_key": SECRET_KEY})
TOKEN_SECRET = json.dumps({"access_key_id": KEY_ID, "secret_access_key": SECRET_KEY, "session_token": "FwoG//token"})
URL = "https://bedrock-runtime.eu-west-3.amazonaws.com/model/us.amazon.nova-micro-v1%3A0/converse"
BODY = b'{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'
SIGNING = SigV4(service="bedrock", default_region="us-east-1")


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *_: NOW)


def _gateway_headers() -> dict[str, str]:
    """What the exchange has set before the strategy runs: the wire's, the instance's, the trace."""
    return {
        "content-type": "application/json",
        "x-team": "search",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }


def _signed(secret: str = SECRET, url: str = URL, body: bytes = BODY, **query: str) -> dict[str, str]:
    headers = _gateway_headers()
    SIGNING.apply(secret, "POST", url, headers, dict(query), body)
    return headers


def _fields(authorization: str) -> dict[str, str]:
    scheme, _, rest = authorization.partition(" ")
    assert scheme == "AWS4-HMAC-SHA256"
    return dict(part.strip().split("=", 1) for part in rest.split(","))


def _by_hand(method: str, url: str, headers: dict[str, str], body: bytes, secret_key: str, region: str) -> str:
    """The signature as AWS's SigV4 documentation builds it (canonical request, string to sign, signing
    key), over the headers the Authorization header says were signed; the path URI-encoded once more."""
    parts = urlsplit(url)
    signed = _fields(headers["Authorization"])["SignedHeaders"].split(";")
    lower = {name.lower(): value for name, value in headers.items()}
    lower["host"] = parts.netloc
    query = "&".join(sorted(
        f"{quote(unquote(k), safe='-_.~')}={quote(unquote(v), safe='-_.~')}"
        for k, _, v in (pair.partition("=") for pair in parts.query.split("&") if pair)
    ))
    canonical = "\n".join([
        method, quote(parts.path, safe="/~"), query,
        "".join(f"{name}:{' '.join(lower[name].split())}\n" for name in signed), ";".join(signed),
        hashlib.sha256(body).hexdigest(),
    ])
    stamp = headers["X-Amz-Date"]
    scope = f"{stamp[:8]}/{region}/bedrock/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (stamp[:8], region, "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_the_signature_is_the_one_botocore_makes_for_the_same_request() -> None:
    headers = _signed()
    independent = AWSRequest(method="POST", url=URL, data=BODY, headers=_gateway_headers())
    SigV4Auth(Credentials(KEY_ID, SECRET_KEY), "bedrock", "eu-west-3").add_auth(independent)
    assert headers["Authorization"] == independent.headers["Authorization"]
    assert headers["X-Amz-Date"] == "20250611T072336Z"
    fields = _fields(headers["Authorization"])
    assert fields["Credential"] == f"{KEY_ID}/20250611/eu-west-3/bedrock/aws4_request"


def test_the_signature_follows_awss_documented_process() -> None:
    headers = _signed()
    assert _fields(headers["Authorization"])["Signature"] == _by_hand(
        "POST", URL, headers, BODY, SECRET_KEY, "eu-west-3"
    )
    with_query = _signed(url=URL, **{"b": "2 3", "a": "1"})
    signature = _by_hand("POST", URL + "?a=1&b=2%203", with_query, BODY, SECRET_KEY, "eu-west-3")
    assert _fields(with_query["Authorization"])["Signature"] == signature


def test_the_signature_covers_the_body() -> None:
    headers = _signed()
    signature = _fields(headers["Authorization"])["Signature"]
    changed = BODY.replace(b"Hello", b"Hellp")
    assert _by_hand("POST", URL, headers, changed, SECRET_KEY, "eu-west-3") != signature
    assert _by_hand("POST", URL, headers, BODY, SECRET_KEY, "eu-west-3") == signature


def test_the_signature_covers_the_gateways_headers_and_the_path_as_sent() -> None:
    headers = _signed()
    signature = _fields(headers["Authorization"])["Signature"]
    signed = _fields(headers["Authorization"])["SignedHeaders"].split(";")
    assert signed == ["content-type", "host", "x-amz-date", "x-team"]
    for name, value in (("content-type", "text/plain"), ("x-team", "ads")):
        tampered = {**headers, name: value}
        assert _by_hand("POST", URL, tampered, BODY, SECRET_KEY, "eu-west-3") != signature, name
    unquoted = URL.replace("%3A", ":")
    assert _by_hand("POST", unquoted, headers, BODY, SECRET_KEY, "eu-west-3") != signature
    # The trace context is sent but left out of the signature on purpose (botocore's rule): proxies and
    # tracing agents may rewrite it on the way, which must not break the request.
    assert "traceparent" in headers and "traceparent" not in signed


def test_temporary_credentials_send_and_sign_their_session_token() -> None:
    headers = _signed(TOKEN_SECRET)
    assert headers["X-Amz-Security-Token"] == "FwoG//token"
    assert "x-amz-security-token" in _fields(headers["Authorization"])["SignedHeaders"].split(";")


def test_a_signature_already_on_the_request_is_replaced_not_doubled() -> None:
    headers = {**_gateway_headers(), "authorization": "Bearer stale", "x-amz-date": "19700101T000000Z"}
    SIGNING.apply(SECRET, "POST", URL, headers, {}, BODY)
    assert [name for name in headers if name.lower() in ("authorization", "x-amz-date")] == [
        "Authorization", "X-Amz-Date",
    ]
    assert headers["X-Amz-Date"] == "20250611T072336Z"


@pytest.mark.parametrize(("url", "region"), [
    ("https://bedrock-runtime.us-west-2.amazonaws.com", "us-west-2"),
    ("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
    ("https://bedrock-agent-runtime.ap-southeast-2.amazonaws.com/rerank", "ap-southeast-2"),
    ("https://vpce-0a1b-c2d3.bedrock-runtime.eu-central-1.vpce.amazonaws.com", "eu-central-1"),
    ("https://bedrock-runtime.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ("https://bedrock.proxy.internal/model/x/converse", None),
    ("http://127.0.0.1:8080/model/x/converse", None),
    ("https://amazonaws.com", None),
])
def test_the_region_is_the_one_the_host_names(url: str, region: str | None) -> None:
    assert region_of(url) == region


def test_a_host_that_names_no_region_is_signed_for_the_default_one() -> None:
    headers = _signed(url="http://127.0.0.1:8080/model/m/converse")
    assert "/us-east-1/bedrock/aws4_request" in headers["Authorization"]


@pytest.mark.parametrize(("secret", "says"), [
    (SECRET_KEY, "not a JSON object"),
    ("", "not a JSON object"),
    (json.dumps([KEY_ID, SECRET_KEY]), "not a JSON object"),
    (json.dumps({"access_key_id": KEY_ID}), "missing or invalid: secret_access_key"),
    (json.dumps({"access_key_id": "", "secret_access_key": SECRET_KEY}), "missing or invalid: access_key_id"),
    (json.dumps({"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET_KEY}),
     "missing or invalid: access_key_id, secret_access_key"),
    (json.dumps({"access_key_id": KEY_ID, "secret_access_key": 42}), "missing or invalid: secret_access_key"),
])
def test_malformed_secrets_are_refused_without_a_word_of_them(secret: str, says: str) -> None:
    with pytest.raises(CredentialMalformed) as refused:
        SIGNING.apply(secret, "POST", URL, {}, {}, BODY)
    error = refused.value
    assert isinstance(error, CredentialError) and error.code == "credential_malformed"
    assert says in error.message and "access_key_id" in error.message
    for fragment in (KEY_ID, SECRET_KEY, SECRET_KEY[:8]):
        assert fragment not in error.message and fragment not in repr(error)
    assert error.__cause__ is None and error.__suppress_context__


def test_extra_fields_of_a_stored_secret_are_ignored() -> None:
    keys = access_keys(json.dumps({"access_key_id": KEY_ID, "secret_access_key": SECRET_KEY, "region": "x"}))
    assert (keys.access_key, keys.secret_key, keys.token) == (KEY_ID, SECRET_KEY, None)


def test_a_malformed_secret_reaches_the_caller_as_credential_malformed_and_nowhere_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key pair as "id:secret" text, not the JSON: refused before anything is sent (port 9 never answers).
    monkeypatch.setenv("BEDROCK_KEYS", f"{KEY_ID}:{SECRET_KEY}")
    instance = {"type": "bedrock", "base_url": "http://127.0.0.1:9", "credential": "env:BEDROCK_KEYS"}
    config = {"providers": {"br": instance}}
    with run_gateway(tmp_path, config) as gateway:
        answer = httpx.post(gateway.v1 + "/chat/completions", headers=gateway.headers(), timeout=30, json={
            "model": "br/us.amazon.nova-micro-v1:0", "messages": [{"role": "user", "content": "hi"}],
        })
        logs = gateway.logs.lines()
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "credential_malformed"
    assert not [text for text in [answer.text, *logs] if SECRET_KEY in text or KEY_ID in text]
