"""The governance steps of a request, wrapped around the dispatcher's call: limits and budgets before,
cache lookup, coalescing of identical requests in flight, cache fill, settlement after.

The HTTP handlers call in here only when something is asked for (limits or budgets configured, a
cache TTL, a deterministic or opted-in request), so the default path neither hashes bodies nor awaits.

Usage records: a cache hit is recorded under the provider and model that first gave the answer, with
its tokens, ``cached`` and cost 0; a request that joined another's upstream call (coalesced) is
recorded with the leader's tokens, ``coalesced`` and cost 0, so that cost is counted once (on the
leader's row) while every caller's row says how many tokens it was served.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from aiohttp import web

from api_connector.api.render import raw_json_response
from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import ConnectorError, ValidationFailed
from api_connector.governance.cache import CachedAnswer, request_key
from api_connector.governance.cost import estimate_tokens
from api_connector.routing.catalog import Target
from api_connector.routing.dispatch import CallContext
from api_connector.transport.http import UpstreamResponse
from api_connector.wire.sse import DONE_FRAME, frame

if TYPE_CHECKING:
    from api_connector.api.services import Services
    from api_connector.governance.wiring import Governance, Scope
    from api_connector.routing.catalog import ProviderInstance

CACHE_TTL_HEADER = "x-cache-ttl"  # seconds: cache this chat completion (and answer from the cache)
CACHE_KEY_HEADER = "x-cache-key"  # the caller's own cache key instead of the request hash
COALESCE_HEADER = "x-coalesce"  # "1": share one upstream call with identical requests in flight
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_DEFAULT_KEYED_TTL = 300


class Tap(Protocol):
    """What a stream handler reports: each batch of payloads, then (None, usage) once it ended cleanly.
    ``headers`` go on the stream's response before its first byte (the caller's x-ratelimit-*)."""

    headers: Mapping[str, str]

    def __call__(self, payloads: list[bytes] | None, usage: Usage | None) -> None: ...


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
    headers: Mapping[str, str]
    payloads: list[bytes] = field(default_factory=list)
    usage: Usage | None = None
    complete: bool = False

    def __call__(self, payloads: list[bytes] | None, usage: Usage | None) -> None:
        if payloads is None:
            self.complete, self.usage = True, usage
        else:
            self.payloads.extend(payloads)


def _answer(kind: bytes, body: bytes, target: Target | None, usage: Usage) -> bytes:
    provider, model = (target.instance.name, target.model) if target is not None else (None, "")
    return CachedAnswer(kind, body, provider, model, usage).encode()


def _origin(services: Services, ctx: CallContext, answer: CachedAnswer) -> Target | None:
    """The target that first gave a cached answer, if this project can still address it."""
    if answer.provider is None:
        return None
    try:
        return services.catalog.resolve(ctx.project_id, f"{answer.provider}/{answer.model}").targets[0]
    except (ConnectorError, IndexError):
        return None


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
    async with gov.scope(ctx.project_id, ctx.key_id, lambda: _estimate(chat)) as scope:
        ttl = _ttl(request, gov)
        key = request_key(ctx.project_id, request.headers.get(CACHE_KEY_HEADER), chat.wire_dict()) if ttl else None
        if key is not None:
            hit = await gov.cache.get(key)
            if hit is not None:
                answer = CachedAnswer.decode(hit)
                scope.actual_tokens = 0
                ctx.served_by = _origin(services, ctx, answer)
                await services.recorder.finish(ctx, started=started, usage=answer.usage, cached=True)
                return await _replay(request, answer, scope.headers)
        if chat.stream:
            capture = _Capture(scope.headers)
            response = await stream_handler(ctx, chat, capture)
            if capture.complete:
                usage = capture.usage or Usage()
                scope.actual_tokens = capture.usage.total_tokens if capture.usage else None
                if key is not None and ttl:
                    payloads = orjson.dumps([p.decode() for p in capture.payloads])
                    await gov.cache.put(key, _answer(b"S", payloads, ctx.served_by, usage), ttl)
            return response
        coalesce = chat.temperature == 0 or request.headers.get(COALESCE_HEADER) == "1"
        body, usage = await _chat_once(services, ctx, chat, started, gov, coalesce)
        scope.actual_tokens = usage.total_tokens
        clean = services.redactor.scrub_body(body)
        if key is not None and ttl:
            await gov.cache.put(key, _answer(b"J", clean, ctx.served_by, usage), ttl)
        response = raw_json_response(clean)
        response.headers.update(scope.headers)
        return response


async def _chat_once(
    services: Services, ctx: CallContext, chat: ChatRequest, started: float, gov: Governance, coalesce: bool
) -> tuple[bytes, Usage]:
    """One upstream call, shared with identical requests in flight when deterministic or opted in."""

    async def call() -> tuple[bytes, Usage, Any]:
        result = await services.dispatcher.chat(ctx, chat)
        return result.body, result.usage, ctx.served_by

    try:
        if coalesce:
            key = "chat:" + request_key(ctx.project_id, None, chat.wire_dict())
            (body, usage, served_by), joined = await gov.coalescer.run(key, call)
        else:
            (body, usage, served_by), joined = await call(), False
    except ConnectorError as error:
        await services.recorder.finish(ctx, started=started, error=error)
        raise
    if joined:
        ctx.served_by = served_by
    await services.recorder.finish(ctx, started=started, usage=usage, coalesced=joined)
    return body, usage


async def _replay(request: web.Request, answer: CachedAnswer, limits: Mapping[str, str]) -> web.StreamResponse:
    headers = {"x-cache": "hit", **limits}
    if answer.kind == b"J":
        response = raw_json_response(answer.body)
        response.headers.update(headers)
        return response
    # A cached stream is answered as a stream, the same events in the same order.
    stream = web.StreamResponse(headers={**_SSE_HEADERS, **headers})
    await stream.prepare(request)
    payloads = orjson.loads(answer.body)
    await stream.write(b"".join(frame(p.encode()) for p in payloads) + DONE_FRAME)
    return stream


@contextlib.asynccontextmanager
async def limited(services: Services, ctx: CallContext) -> AsyncIterator[Scope | None]:
    """Limits and budgets around a call whose tokens are unknown (generic requests); the scope's
    ``headers`` are the caller's x-ratelimit-* for the answer."""
    gov = services.governance
    if gov is None or not gov.gates:
        yield None
        return
    async with gov.scope(ctx.project_id, ctx.key_id) as scope:
        yield scope


@dataclass(slots=True)
class GenericOutcome:
    upstream: UpstreamResponse
    cached: bool
    coalesced: bool = False


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
            entry = orjson.loads(CachedAnswer.decode(hit).body)
            ctx.served_by = Target(instance, "")  # recorded under the provider that gave the answer
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
        await gov.cache.put(key, _answer(b"R", orjson.dumps(value), ctx.served_by, Usage()), ttl)
    return GenericOutcome(upstream, False, joined)
