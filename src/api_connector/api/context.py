"""Turning an HTTP request into what the pipeline needs: a parsed body and the call's facts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from api_connector.api.services import PRINCIPAL, REQUEST_ID, SERVICES, STARTED
from api_connector.auth.authenticator import Principal
from api_connector.core.call import NO_CACHE_ASK, NO_HEADERS, Actor, CacheAsk, Call, Priority
from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.errors import InvalidJSON, PayloadTooLarge, PermissionDenied, ValidationFailed
from api_connector.routing.admission import PRIORITY_HEADER, parse_priority

M = TypeVar("M", bound=BaseModel)
PROJECT_HEADER = "x-project-id"


async def read_json(request: web.Request) -> dict[str, Any]:
    limit = request.app[SERVICES].settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    raw = await request.read()
    if not raw:
        raise InvalidJSON("the request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"the request body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(body, dict):
        raise ValidationFailed("the request body must be a JSON object")
    return body


def parse_model(model: type[M], raw: dict[str, Any]) -> M:
    """Validate a request body; the first problem becomes a clear 400 naming the field."""
    try:
        if model is ChatRequest:
            return ChatRequest.from_json_obj(raw)  # type: ignore[return-value]
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_failed(exc) from None


def validation_failed(exc: ValidationError) -> ValidationFailed:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ValidationFailed(f"{where}: {first['msg']}{suffix}" if where else first["msg"] + suffix, param=where or None)


def project_of(request: web.Request) -> str:
    """The caller's project: its key's, or for a global admin key the one it names (default otherwise)."""
    principal: Principal = request[PRINCIPAL]
    if principal.project_id is not None:
        return principal.project_id
    named = request.headers.get(PROJECT_HEADER)
    return named or request.app[SERVICES].default_project_id


def check_project_access(request: web.Request, project_id: str) -> None:
    principal: Principal = request[PRINCIPAL]
    if not principal.can_access_project(project_id):
        raise PermissionDenied("this key cannot reach that project")


# Per-request overrides for callers that cannot add body fields (the OpenAI-compatible routes).
TIMEOUT_HEADER = "x-timeout"  # seconds for the whole request, retries and failover included
RETRIES_HEADER = "x-retries"  # tries on the same target after the first
CACHE_TTL_HEADER = "x-cache-ttl"  # seconds: cache this answer (and answer from the cache)
CACHE_KEY_HEADER = "x-cache-key"  # the caller's own cache key instead of the request hash
STALE_HEADER = "x-cache-stale-if-error"  # seconds past its TTL a cached answer may stand in for a failure
COALESCE_HEADER = "x-coalesce"  # "1": share one upstream call with identical requests in flight
IDEMPOTENCY_HEADER = "idempotency-key"  # sending this request twice is safe (retries, failover)
_MAX_TTL = 30 * 86400
# Any of the optional control headers, in the newline-joined lower-case header names.
_CONTROLS = (
    TIMEOUT_HEADER,
    RETRIES_HEADER,
    PRIORITY_HEADER,
    CACHE_TTL_HEADER,
    CACHE_KEY_HEADER,
    STALE_HEADER,
    COALESCE_HEADER,
    IDEMPOTENCY_HEADER,
)
_CONTROL = re.compile("\n(?:" + "|".join(map(re.escape, _CONTROLS)) + ")(?:\n|$)")


def call_for(
    request: web.Request,
    capability: Capability,
    *,
    retries: int | None = None,
    timeout: float | None = None,
    priority: Priority | None = None,
    cache: CacheAsk | None = None,
) -> Call:
    """The call's facts from the HTTP request: body fields given here win over the headers."""
    services = request.app[SERVICES]
    principal: Principal = request[PRINCIPAL]
    headers = request.headers
    started = request[STARTED]
    catalog = services.catalog
    # One look at every header name first: most requests carry none of the optional ones, and then
    # none is looked up.
    names = "\n" + "\n".join(headers.keys()).lower()
    forward: Mapping[str, str] = NO_HEADERS
    if catalog.passthrough_prefixes and any("\n" + prefix in names for prefix in catalog.passthrough_prefixes):
        forward = _forwarded(headers, catalog.passthrough_prefixes)
    coalesce = False
    idempotency_key = None
    if _CONTROL.search(names) is not None:
        if timeout is None and TIMEOUT_HEADER in headers:
            timeout = _header_number(request, TIMEOUT_HEADER, float, 0.001, 600)
        if retries is None and RETRIES_HEADER in headers:
            retries = int(_header_number(request, RETRIES_HEADER, int, 0, 10))
        if priority is None:
            priority = parse_priority(headers.get(PRIORITY_HEADER))
        if cache is None:
            cache = cache_ask(request)
        coalesce = headers.get(COALESCE_HEADER) == "1"
        idempotency_key = headers.get(IDEMPOTENCY_HEADER) or None
    tracing = services.recorder.tracing
    return Call(
        request[REQUEST_ID],
        project_of(request),
        principal.key_id,
        capability,
        started,
        started + timeout if timeout else None,
        catalog.config.resilience.retry.max_retries if retries is None else retries,
        Priority.NORMAL if priority is None else priority,
        forward,
        NO_CACHE_ASK if cache is None else cache,
        coalesce,
        idempotency_key,
        True,
        # Off by default: then nothing at all is done for traces.
        tracing.begin(capability, headers, started) if tracing is not None else None,
    )


def cache_ask(request: web.Request) -> CacheAsk:
    """What the request's headers ask of the response cache."""
    headers = request.headers
    if CACHE_TTL_HEADER not in headers and CACHE_KEY_HEADER not in headers and STALE_HEADER not in headers:
        return NO_CACHE_ASK
    ttl = stale = None
    if CACHE_TTL_HEADER in headers:
        ttl = int(_header_number(request, CACHE_TTL_HEADER, int, 0, _MAX_TTL))
    if STALE_HEADER in headers:
        stale = int(_header_number(request, STALE_HEADER, int, 0, _MAX_TTL))
    return CacheAsk(ttl=ttl, key=headers.get(CACHE_KEY_HEADER) or None, stale_if_error=stale)


def actor_of(request: web.Request) -> Actor:
    """Who acts in an admin operation: for audit rows and credential checks."""
    principal: Principal = request[PRINCIPAL]
    forward = _forwarded(request.headers, request.app[SERVICES].catalog.passthrough_prefixes)
    return Actor(request[REQUEST_ID], project_of(request), principal.key_id, forward)


def _forwarded(headers: Mapping[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """The caller's headers some provider wants passed on (by prefix), lower-case; usually none."""
    if not prefixes:
        return {}
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith(prefixes)}


def _header_number(request: web.Request, name: str, kind: type[float] | type[int], low: float, high: float) -> float:
    try:
        value = kind(request.headers[name])
    except ValueError:
        what = "whole seconds" if name in (CACHE_TTL_HEADER, STALE_HEADER) else "a number"
        raise ValidationFailed(f"header {name} must be {what}", param=name) from None
    if not low <= value <= high:
        raise ValidationFailed(f"header {name} must be between {low:.15g} and {high:.15g}", param=name)
    return value
