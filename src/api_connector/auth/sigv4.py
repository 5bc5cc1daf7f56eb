"""AWS Signature Version 4: the request signed with an access key pair, by botocore's own signer.

The secret is a JSON access key pair, ``{"access_key_id", "secret_access_key", "session_token"?}``
(temporary credentials carry the session token), from the vault, an ``env:`` variable or an ``aws:``
Secrets Manager reference. The signature covers the method, the path exactly as it is sent, the
query, the body's SHA-256 and every header already set (content type, the instance's and forwarded
headers); botocore leaves out the few that intermediaries may rewrite (``traceparent``,
``user-agent``, ...). It is applied last (``auth.strategies``), so nothing changes the request after it.

The region is the one the base URL's host names (``bedrock-runtime.<region>.amazonaws.com``, FIPS and
VPC endpoints alike): an instance picks its region by its ``base_url``. A host that names none (a proxy
in front of AWS) is signed for the strategy's default region.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_connector.errors import CredentialMalformed

_SHAPE = '{"access_key_id", "secret_access_key", "session_token"?}'
# Headers the signature sets: any the request already has (in any case) are replaced, not doubled.
_SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")


class AccessKeyPair(BaseModel):
    """The secret's JSON. Fields of other uses in the same secret (a Secrets Manager entry) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_key_id: str = Field(min_length=1)
    secret_access_key: str = Field(min_length=1)
    session_token: str | None = None


@functools.lru_cache(maxsize=64)
def access_keys(secret: str) -> Credentials:
    """The key pair of a secret (parsed once per secret); CredentialMalformed names what is wrong, no value."""
    try:
        pair = AccessKeyPair.model_validate_json(secret)
    except ValidationError as exc:
        # Only field names: the input (the secret itself) must not reach a message or a log line.
        fields = sorted({str(error["loc"][0]) for error in exc.errors(include_input=False) if error["loc"]})
        problem = f"missing or invalid: {', '.join(fields)}" if fields else "not a JSON object"
        raise CredentialMalformed(f"an AWS credential must be the JSON {_SHAPE}; {problem}") from None
    return Credentials(pair.access_key_id, pair.secret_access_key, pair.session_token or None)


def region_of(url: str) -> str | None:
    """The AWS region an AWS endpoint's host names (``<service>.<region>.amazonaws.com[.cn]``, a VPC
    endpoint's ``....<region>.vpce.amazonaws.com``), or None for any other host."""
    labels = (urlsplit(url).hostname or "").split(".")
    if "amazonaws" not in labels:
        return None
    before = labels[: labels.index("amazonaws")]
    if before and before[-1] == "vpce":
        before.pop()
    return before[-1] if before and _REGION.fullmatch(before[-1]) else None


class SigV4:
    """``auth.strategies.Auth`` for AWS: signs the final request for ``service`` in the URL's region."""

    __slots__ = ("default_region", "service")

    def __init__(self, service: str, default_region: str) -> None:
        self.service = service
        self.default_region = default_region

    def apply(
        self, secret: str, method: str, url: str, headers: dict[str, str], query: dict[str, str], body: bytes | None
    ) -> None:
        credentials = access_keys(secret)
        for name in [name for name in headers if name.lower() in _LOWER_SIGNATURE_HEADERS]:
            del headers[name]
        request = AWSRequest(method=method, url=url, data=body or b"", headers=headers, params=dict(query))
        SigV4Auth(credentials, self.service, region_of(url) or self.default_region).add_auth(request)
        for name in _SIGNATURE_HEADERS:
            value = request.headers.get(name)
            if value is not None:
                headers[name] = value


_LOWER_SIGNATURE_HEADERS = frozenset(name.lower() for name in _SIGNATURE_HEADERS)
