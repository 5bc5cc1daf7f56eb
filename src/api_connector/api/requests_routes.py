"""The generic request API: any endpoint of any configured provider, credential injected by the service.

``POST /v1/requests`` answers the envelope ``{success, data?, error?, metadata}``;
``POST /v1/requests/stream`` streams the upstream body back as it arrives.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api_connector.api.context import call_context, parse_model, read_json
from api_connector.api.middleware import Routes
from api_connector.api.render import json_response
from api_connector.api.services import SERVICES, STARTED, Services
from api_connector.core.capabilities import Capability
from api_connector.errors import ConnectorError, UpstreamError, ValidationFailed
from api_connector.governance.flow import COALESCE_HEADER, limited, send_generic
from api_connector.routing.admission import PRIORITY_HEADER, parse_priority
from api_connector.routing.catalog import ProviderInstance
from api_connector.routing.dispatch import CallContext

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")

# Headers a caller may not set: credentials are the service's job, the rest belong to the connection.
_FORBIDDEN_HEADERS = frozenset(
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
    priority: Literal["low", "normal", "high"] = "normal"
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
        bad = sorted(name for name in value if name.lower() in _FORBIDDEN_HEADERS)
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


def _instance(services: Services, ctx: CallContext, generic: GenericRequest) -> ProviderInstance:
    if generic.provider:
        return services.catalog.instance(ctx.project_id, generic.provider)
    if generic.capability:
        for instance in services.catalog.instances(ctx.project_id):
            if generic.capability in instance.spec.endpoints:
                return instance
        raise ValidationFailed(f"no configured provider offers {generic.capability.value}", param="capability")
    raise ValidationFailed("name a provider (or a capability to choose one)", param="provider")


async def _prepare(
    request: web.Request,
) -> tuple[Services, CallContext, GenericRequest, ProviderInstance, dict[str, str], bytes | None]:
    services = request.app[SERVICES]
    generic = parse_model(GenericRequest, await read_json(request))
    ctx = call_context(
        request, generic.capability or Capability.REQUESTS, retries=generic.retries, timeout=generic.timeout
    )
    instance, headers, body = plan(services, ctx, generic)
    return services, ctx, generic, instance, headers, body


def plan(
    services: Services, ctx: CallContext, generic: GenericRequest
) -> tuple[ProviderInstance, dict[str, str], bytes | None]:
    """The instance to call, the headers and the encoded body (shared with the embedded Connector)."""
    instance = _instance(services, ctx, generic)
    body, content_type = generic.encoded_body()
    headers = dict(generic.headers)
    if content_type and "content-type" not in headers:
        headers["content-type"] = content_type
    return instance, headers, body


def _decode(body: bytes, content_type: str) -> Any:
    if not body:
        return None
    if "json" in content_type:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return body.decode("utf-8", "replace")


@contextlib.contextmanager
def _admitted(request: web.Request, services: Services, generic: GenericRequest) -> Iterator[None]:
    """Admission control by the request's priority (the body's field, else the x-priority header),
    held until the answer is complete (a stream's included)."""
    if services.routing is None:
        yield
        return
    named = generic.priority if "priority" in generic.model_fields_set else request.headers.get(PRIORITY_HEADER)
    admission = services.routing.admission
    admission.enter(parse_priority(named))
    try:
        yield
    finally:
        admission.leave()


async def generic_request(request: web.Request) -> web.Response:
    services, ctx, generic, instance, headers, body = await _prepare(request)
    with _admitted(request, services, generic):
        return await _generic_request(request, services, ctx, generic, instance, headers, body)


async def _generic_request(
    request: web.Request,
    services: Services,
    ctx: CallContext,
    generic: GenericRequest,
    instance: ProviderInstance,
    headers: dict[str, str],
    body: bytes | None,
) -> web.Response:
    opted_in = request.headers.get(COALESCE_HEADER) == "1"
    async with limited(services, ctx) as reservation:  # caller limits and budgets (governance/flow.py)
        envelope = await execute(services, ctx, generic, instance, headers, body, request[STARTED], opted_in)
    return json_response(envelope, headers=reservation.headers if reservation is not None else None)


async def execute(
    services: Services,
    ctx: CallContext,
    generic: GenericRequest,
    instance: ProviderInstance,
    headers: dict[str, str],
    body: bytes | None,
    started: float,
    coalesce: bool = False,
) -> dict[str, Any]:
    """One generic request through the pipeline: the success envelope, or a ConnectorError (recorded)."""
    call = (instance, generic.method, generic.endpoint, headers, body)
    try:
        # The response cache and coalescing wrap the dispatcher's call (governance/flow.py).
        outcome = await send_generic(services, ctx, call, generic.cache_key, generic.cache_ttl, coalesce)
    except ConnectorError as error:
        await services.recorder.finish(ctx, started=started, error=error)
        raise
    upstream = outcome.upstream
    await services.recorder.finish(ctx, started=started, cached=outcome.cached, coalesced=outcome.coalesced)
    data = _decode(services.redactor.scrub_body(upstream.body), upstream.headers.get("content-type", ""))
    return {
        "success": True,
        "data": data,
        "metadata": {
            "provider": instance.name,
            "status": upstream.status,
            "response_time_ms": round((time.perf_counter() - started) * 1000, 2),
            "cached": outcome.cached,
            "request_id": ctx.request_id,
        },
    }


async def generic_stream(request: web.Request) -> web.StreamResponse:
    services, ctx, generic, instance, headers, body = await _prepare(request)
    with _admitted(request, services, generic):
        return await _generic_stream(request, services, ctx, generic, instance, headers, body)


async def _generic_stream(
    request: web.Request,
    services: Services,
    ctx: CallContext,
    generic: GenericRequest,
    instance: ProviderInstance,
    headers: dict[str, str],
    body: bytes | None,
) -> web.StreamResponse:
    async with limited(services, ctx) as scope:  # caller limits and budgets hold for the whole stream
        limits = scope.headers if scope is not None else None
        return await _stream_upstream(request, services, ctx, instance, generic, headers, body, limits)


async def _stream_upstream(
    request: web.Request,
    services: Services,
    ctx: CallContext,
    instance: ProviderInstance,
    generic: GenericRequest,
    headers: dict[str, str],
    body: bytes | None,
    limits: dict[str, str] | None = None,  # the caller's x-ratelimit-*, sent before the first byte
) -> web.StreamResponse:
    started = request[STARTED]
    try:
        upstream = await services.dispatcher.open_raw_stream(
            ctx, instance, generic.method, generic.endpoint, headers, body
        )
    except ConnectorError as error:
        await services.recorder.finish(ctx, started=started, error=error)
        raise
    response = web.StreamResponse(
        status=upstream.status,
        headers={
            "Content-Type": upstream.headers.get("content-type", "application/octet-stream"),
            "x-request-id": ctx.request_id,
            "x-provider": instance.name,
            **(limits or {}),
        },
    )
    failure: ConnectorError | None = None
    try:
        await response.prepare(request)
        async for chunk in upstream.chunks():
            await response.write(services.redactor.scrub_body(chunk))
    except UpstreamError as error:
        failure = error  # the client sees the body end early; the usage record says why
    finally:
        upstream.close()
        await services.recorder.finish(ctx, started=started, error=failure)
    return response


def setup(routes: Routes) -> None:
    routes.add_post("/v1/requests", generic_request)
    routes.add_post("/v1/requests/stream", generic_stream)
