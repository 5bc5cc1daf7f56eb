"""The governance steps of a request, wrapped around the dispatcher's call: limits and budgets before,
cache lookup, coalescing of identical requests in flight, cache fill, settlement after.

The HTTP handlers call in here only when something is asked for (limits or budgets configured, a
cache TTL, a deterministic or opted-in request), so the default path neither hashes bodies nor awaits.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from api_connector.api.render import raw_json_response
from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import ConnectorError, ValidationFailed
from api_connector.governance.cache import request_key
from api_connector.governance.cost import estimate_tokens
from api_connector.governance.limiter import Reservation
from api_connector.routing.dispatch import CallContext
from api_connector.transport.http import UpstreamResponse
from api_connector.wire.sse import DONE_FRAME, frame

if TYPE_CHECKING:
    from api_connector.api.services import Services
    from api_connector.governance.wiring import Governance
    from api_connector.routing.catalog import ProviderInstance

CACHE_TTL_HEADER = "x-cache-ttl"  # seconds: cache this chat completion (and answer from the cache)
CACHE_KEY_HEADER = "x-cache-key"  # the caller's own cache key instead of the request hash
COALESCE_HEADER = "x-coalesce"  # "1": share one upstream call with identical requests in flight
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_DEFAULT_KEYED_TTL = 300

# A stream handler that reports each batch of payloads, then (None, usage) once it ended cleanly.
Tap = Callable[[list[bytes] | None, Usage | None], None]
StreamHandler = Callable[[CallContext, ChatRequest, Tap], Awaitable[web.StreamResponse]]


def chat_engaged(gov: Governance | None, request: web.Request, chat: ChatRequest) -> bool:
    if gov is None:
        return False
    headers = request.headers
    return (
        gov.gates
        or gov.default_ttl is not None
        or CACHE_TTL_HEADER in headers
        or COALESCE_HEADER in headers
        or (not chat.stream and chat.temperature == 0)
    )


def _estimate(chat: ChatRequest) -> int:
    prompt, completion = estimate_tokens(
        orjson.dumps(chat.wire_dict().get("messages")).decode(), chat.output_token_limit()
    )
    return prompt + completion


def _ttl(request: web.Request, gov: Governance) -> int | None:
    raw = request.headers.get(CACHE_TTL_HEADER)
    if raw is None:
        return gov.default_ttl
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"header {CACHE_TTL_HEADER} must be whole seconds", param=CACHE_TTL_HEADER) from None
    if not 0 <= value <= 30 * 86400:
        raise ValidationFailed(f"header {CACHE_TTL_HEADER} must be between 0 and 2592000", param=CACHE_TTL_HEADER)
    return value or None


@dataclass(slots=True)
class _Capture:
    payloads: list[bytes] = field(default_factory=list)
    usage: Usage | None = None
    complete: bool = False

    def __call__(self, payloads: list[bytes] | None, usage: Usage | None) -> None:
        if payloads is None:
            self.complete, self.usage = True, usage
        else:
            self.payloads.extend(payloads)


async def governed_chat(
    request: web.Request,
    services: Services,
    ctx: CallContext,
    chat: ChatRequest,
    started: float,
    stream_handler: StreamHandler,
) -> web.StreamResponse:
    gov = services.governance
    assert gov is not None
    reservation = await gov.admit(ctx.project_id, ctx.key_id, lambda: _estimate(chat)) if gov.gates else None
    capture = _Capture()
    actual: int | None = None
    try:
        ttl = _ttl(request, gov)
        key = request_key(ctx.project_id, request.headers.get(CACHE_KEY_HEADER), chat.wire_dict()) if ttl else None
        if key is not None:
            hit = await gov.cache.get(key)
            if hit is not None:
                actual = 0
                await services.recorder.finish(ctx, started=started, usage=Usage())
                return await _replay(request, hit, reservation)
        if chat.stream:
            response = await stream_handler(ctx, chat, capture)
            if capture.complete:
                actual = capture.usage.total_tokens if capture.usage else None
                if key is not None and ttl:
                    await gov.cache.put(key, b"S" + orjson.dumps([p.decode() for p in capture.payloads]), ttl)
            return response
        # Only deterministic, opted-in or cacheable requests share a call: two sampled answers differ.
        share = key is not None or chat.temperature == 0 or request.headers.get(COALESCE_HEADER) == "1"
        body, usage = await _chat_once(services, ctx, chat, started, gov, share)
        actual = usage.total_tokens
        clean = services.redactor.scrub_body(body)
        if key is not None and ttl:
            await gov.cache.put(key, b"J" + clean, ttl)
        response = raw_json_response(clean)
        if reservation is not None:
            response.headers.update(reservation.headers)
        return response
    finally:
        if reservation is not None:
            await reservation.finish(actual)


async def _chat_once(
    services: Services, ctx: CallContext, chat: ChatRequest, started: float, gov: Governance, share: bool
) -> tuple[bytes, Usage]:
    """One upstream call, shared with identical requests in flight when ``share`` (deterministic,
    opted in or cacheable)."""

    async def call() -> tuple[bytes, Usage, Any]:
        result = await services.dispatcher.chat(ctx, chat)
        return result.body, result.usage, ctx.served_by

    try:
        if share:
            key = "chat:" + request_key(ctx.project_id, None, chat.wire_dict())
            (body, usage, served_by), joined = await gov.coalescer.run(key, call)
        else:
            (body, usage, served_by), joined = await call(), False
    except ConnectorError as error:
        await services.recorder.finish(ctx, started=started, error=error)
        raise
    # A request that joined another's call used no tokens of its own: recorded, but not charged twice.
    if joined:
        ctx.served_by = served_by
    await services.recorder.finish(ctx, started=started, usage=Usage() if joined else usage)
    return body, usage


async def _replay(request: web.Request, entry: bytes, reservation: Reservation | None) -> web.StreamResponse:
    headers = {"x-cache": "hit", **(reservation.headers if reservation else {})}
    if entry[:1] == b"J":
        response = raw_json_response(entry[1:])
        response.headers.update(headers)
        return response
    # A cached stream is answered as a stream, the same events in the same order.
    stream = web.StreamResponse(headers={**_SSE_HEADERS, **headers})
    await stream.prepare(request)
    payloads = orjson.loads(entry[1:])
    await stream.write(b"".join(frame(p.encode()) for p in payloads) + DONE_FRAME)
    return stream


@contextlib.asynccontextmanager
async def limited(services: Services, ctx: CallContext) -> AsyncIterator[Reservation | None]:
    """Limits and budgets around a call whose tokens are unknown (generic requests)."""
    gov = services.governance
    reservation = await gov.admit(ctx.project_id, ctx.key_id) if gov is not None and gov.gates else None
    try:
        yield reservation
    finally:
        if reservation is not None:
            await reservation.finish(None)


@dataclass(slots=True)
class GenericOutcome:
    upstream: UpstreamResponse
    cached: bool


async def send_generic(
    services: Services,
    ctx: CallContext,
    spec: tuple[ProviderInstance, str, str, dict[str, str], bytes | None],
    cache_key: str | None,
    cache_ttl: int | None,
    opted_in: bool = False,
) -> GenericOutcome:
    """``/v1/requests``: the cache (when asked), then one upstream call, shared with identical requests
    in flight when they are reads (GET, HEAD), cached, or opted in (``x-coalesce: 1``)."""
    instance, method, endpoint, headers, body = spec
    gov = services.governance
    ttl = cache_ttl if cache_ttl is not None else (_DEFAULT_KEYED_TTL if cache_key else None)
    if gov is None or not (ttl or opted_in or method in ("GET", "HEAD")):
        return GenericOutcome(await services.dispatcher.send_raw(ctx, *spec), False)
    key = None
    if ttl:
        canonical = [instance.name, method, endpoint, headers, base64.b64encode(body or b"").decode()]
        key = request_key(ctx.project_id, cache_key, canonical)
        hit = await gov.cache.get(key)
        if hit is not None:
            entry = orjson.loads(hit)
            return GenericOutcome(
                UpstreamResponse(entry["s"], {"content-type": entry["c"]}, base64.b64decode(entry["b"])), True
            )

    async def call() -> tuple[UpstreamResponse, Any]:
        return await services.dispatcher.send_raw(ctx, *spec), ctx.served_by

    flight = key or request_key(ctx.project_id, None, [instance.name, method, endpoint, headers, str(body)])
    (upstream, served_by), joined = await gov.coalescer.run("req:" + flight, call)
    if joined:
        ctx.served_by = served_by
    if key is not None and ttl and upstream.status < 400:
        value = {
            "s": upstream.status,
            "c": upstream.headers.get("content-type", ""),
            "b": base64.b64encode(upstream.body).decode(),
        }
        await gov.cache.put(key, orjson.dumps(value), ttl)
    return GenericOutcome(upstream, False)
