"""The generic request API as a capability: any endpoint of a configured provider, credential injected.

The caller names the provider (or a capability some provider offers), the method, a path below the
provider's base URL, headers and a body; the answer is the upstream's status, headers and body, passed
on whatever its status (a 3xx or a 4xx is the upstream's answer, not followed and not retried).
Reads (GET, HEAD) and other idempotent methods may be retried and shared with identical requests in
flight; a POST or PATCH is sent once unless the caller gives an ``Idempotency-Key``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api_connector.capabilities.base import CapabilitySpec, StreamFilter
from api_connector.core.call import Call, Priority
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Inbound, Outbound
from api_connector.core.usage import Usage
from api_connector.errors import UpstreamError, ValidationFailed
from api_connector.observability.payloads import PayloadBody
from api_connector.observability.redaction import Redactor
from api_connector.routing.catalog import Catalog, ProviderInstance, Route
from api_connector.routing.classify import classify_status
from api_connector.routing.exchange import Exchange
from api_connector.routing.streams import AnswerStream, RawStream

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")

# Headers a caller may not set: credentials are the service's job, the rest belong to the connection.
FORBIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "cookie",
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
    }
)
_PATH = re.compile(r"^/[^\s\\#]*$")


class GenericRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str | None = None
    capability: Capability | None = None
    endpoint: str = Field(min_length=1, max_length=2048)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    timeout: float | None = Field(None, gt=0, le=600)
    retries: int | None = Field(None, ge=0, le=10)
    priority: Priority = Priority.NORMAL
    cache_key: str | None = Field(None, max_length=512)
    cache_ttl: int | None = Field(None, ge=0, le=86_400 * 30)

    @field_validator("endpoint")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        # A path below the provider's base URL only: never a URL of the caller's choosing (no SSRF).
        if not _PATH.match(value) or "://" in value or any(seg == ".." for seg in value.split("?")[0].split("/")):
            raise ValueError(
                "must be a path below the provider's base URL, starting with '/' (no scheme, host or '..')"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _no_credentials(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in value if name.lower() in FORBIDDEN_HEADERS)
        if bad:
            raise ValueError(f"may not set {', '.join(bad)}: credentials are injected by the service")
        # A name that is not an HTTP token or a value with a line break would let a caller add headers
        # (or a whole request) of their own on the upstream connection.
        malformed = sorted(
            repr(name) for name, v in value.items() if not _HEADER_NAME.fullmatch(name) or _BAD_VALUE.search(v)
        )
        if malformed:
            raise ValueError(f"malformed header {', '.join(malformed)}: names are HTTP tokens, values one line")
        return {name.lower(): v for name, v in value.items()}

    def encoded_body(self) -> tuple[bytes | None, str | None]:
        if self.body is None:
            return None, None
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "text/plain; charset=utf-8"
        return orjson.dumps(self.body), "application/json"




# Methods whose repetition leaves the provider as one request would (RFC 9110 idempotent methods).
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_READS = frozenset({"GET", "HEAD"})
# Answers of these kinds are text: secrets are masked in them. Anything else (audio, images,
# archives) passes untouched.
_TEXT_TYPES = ("text/", "json", "xml", "x-www-form-urlencoded", "javascript", "event-stream")


@dataclass(slots=True)
class RawRequest:
    """A generic request, planned: the instance it goes to and the bytes it sends."""

    instance: ProviderInstance
    method: str
    endpoint: str
    headers: dict[str, str]
    body: bytes | None
    stream: bool = False

    @classmethod
    def plan(cls, catalog: Catalog, project_id: str, generic: GenericRequest, stream: bool = False) -> RawRequest:
        instance = _instance(catalog, project_id, generic)
        body, content_type = generic.encoded_body()
        headers = dict(generic.headers)
        if content_type and "content-type" not in headers:
            headers["content-type"] = content_type
        return cls(instance, generic.method, generic.endpoint, headers, body, stream)


def _instance(catalog: Catalog, project_id: str, generic: GenericRequest) -> ProviderInstance:
    if generic.provider:
        return catalog.instance(project_id, generic.provider)
    if generic.capability:
        for instance in catalog.instances(project_id):
            if generic.capability in instance.spec.endpoints:
                return instance
        raise ValidationFailed(f"no configured provider offers {generic.capability.value}", param="capability")
    raise ValidationFailed("name a provider (or a capability to choose one)", param="provider")


def is_text(headers: Mapping[str, str]) -> bool:
    content_type = headers.get("content-type", "").lower()
    return not content_type or any(kind in content_type for kind in _TEXT_TYPES)


class RawCapability(CapabilitySpec[RawRequest, Inbound]):
    capability: ClassVar[Capability] = Capability.REQUESTS
    kind: ClassVar[str] = "request"
    idempotent: ClassVar[bool] = False  # decided per method below

    def route(self, catalog: Catalog, project_id: str, request: RawRequest) -> Route:
        return catalog.single(request.instance)

    def streamed(self, request: RawRequest) -> bool:
        return request.stream

    def resendable(self, call: Call, request: RawRequest) -> bool:
        return request.method in _IDEMPOTENT_METHODS or call.idempotency_key is not None

    def usage(self, result: Inbound) -> Usage:
        return Usage(requests=1)

    def cache_material(self, request: RawRequest) -> Any:
        body = base64.b64encode(request.body or b"").decode()
        return [request.instance.name, request.method, request.endpoint, request.headers, body]

    def deterministic(self, request: RawRequest) -> bool:
        return request.method in _READS

    def dump_result(self, result: Inbound) -> bytes:
        content_type = result.headers.get("content-type", "")
        return orjson.dumps({"s": result.status, "c": content_type, "b": base64.b64encode(result.body).decode()})

    def load_result(self, raw: bytes, usage: Usage) -> Inbound:
        entry = orjson.loads(raw)
        return Inbound(entry["s"], {"content-type": entry["c"]}, base64.b64decode(entry["b"]))

    async def fetch(self, request: RawRequest, exchange: Exchange) -> Inbound:
        answer = await exchange.send(self._outbound(request))
        if answer.status >= 400:
            raise raw_failure(answer.status, answer.headers, answer.body, request.instance.name)
        return answer

    async def open(self, request: RawRequest, exchange: Exchange) -> AnswerStream:
        upstream = await exchange.open(self._outbound(request))
        if upstream.status >= 400:
            try:
                payload = await upstream.read_all()
            finally:
                upstream.close()
            raise raw_failure(upstream.status, upstream.headers, payload, request.instance.name)
        return RawStream(exchange.target, upstream)

    @staticmethod
    def _outbound(request: RawRequest) -> Outbound:
        return Outbound(request.endpoint, request.body, request.headers, request.method)

    def scrub(self, result: Inbound, redactor: Redactor) -> Inbound:
        if not is_text(result.headers):
            return result
        body = redactor.scrub_body(result.body)
        return result if body is result.body else Inbound(result.status, result.headers, body)

    def stream_filter(self, stream: AnswerStream, redactor: Redactor) -> StreamFilter | None:
        if not is_text(stream.headers):
            return None
        scrubber = redactor.stream()  # holds back enough of each read to mask a secret cut in two

        def apply(pieces: list[bytes]) -> list[bytes]:
            out = scrubber.feed(b"".join(pieces) if len(pieces) > 1 else pieces[0])
            return [out] if out else []

        def flush() -> list[bytes]:
            tail = scrubber.flush()
            return [tail] if tail else []

        return StreamFilter(apply, flush)

    def audit_answer(self, result: Inbound) -> PayloadBody:
        content_type = result.headers.get("content-type", "")
        if not is_text(result.headers):
            return PayloadBody(content_type, size=len(result.body), kept=False)
        return PayloadBody(content_type or "text/plain", decode_body(result.body, content_type), len(result.body))

    def audit_stream(self, stream: AnswerStream) -> Callable[[list[bytes]], PayloadBody] | None:
        if not is_text(stream.headers):
            return None
        content_type = stream.headers.get("content-type") or "text/plain"
        return lambda pieces: PayloadBody(content_type, b"".join(pieces).decode("utf-8", "replace"))

    def answer_json(self, result: Inbound) -> tuple[int, Any]:
        return result.status, decode_body(result.body, result.headers.get("content-type", ""))

    def dead_letter(self, request: RawRequest) -> tuple[str, dict[str, Any]]:
        """The request as the caller sent it (before any credential was added), for a later replay."""
        decoded: Any = None
        kind = "none"
        if request.body:
            try:
                decoded, kind = orjson.loads(request.body), "json"
            except orjson.JSONDecodeError:
                decoded, kind = request.body.decode("utf-8", "replace"), "text"
        payload = {
            "provider": request.instance.name,
            "method": request.method,
            "endpoint": request.endpoint,
            "headers": dict(request.headers),
            "body": decoded,
            "body_kind": kind,
        }
        return request.instance.name, payload

    def from_dead_letter(self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]) -> RawRequest:
        instance = catalog.instance(project_id, str(payload["provider"]))
        body: bytes | None = None
        if payload.get("body_kind") == "json":
            body = orjson.dumps(payload.get("body"))
        elif payload.get("body") is not None:
            body = str(payload["body"]).encode("utf-8")
        headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()}
        return RawRequest(instance, str(payload["method"]), str(payload["endpoint"]), headers, body)


def decode_body(body: bytes, content_type: str) -> Any:
    """An answer's body as JSON data when it is JSON, else as text (None when empty)."""
    if not body:
        return None
    if "json" in content_type:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return body.decode("utf-8", "replace")


def raw_failure(status: int, headers: Mapping[str, str], body: bytes, provider: str) -> UpstreamError:
    """A generic call's failure, classified, with what the upstream said kept for the caller."""
    error = classify_status(status, None, headers, provider=provider)
    text = body[:4096].decode("utf-8", "replace")
    try:
        said: object = orjson.loads(body) if body and len(body) <= 65536 else text
    except orjson.JSONDecodeError:
        said = text
    error.details = {**(error.details or {}), "upstream_status": status, "upstream_body": said}
    return error


RAW = RawCapability()
