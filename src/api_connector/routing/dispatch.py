"""Dispatch: pick targets, inject the credential, send over the pooled client, classify, fail over.

Everything provider-specific comes from the target's ProviderSpec and its wire; this module never looks
at a provider's name. Retries and failover wrap the single attempt; a caller fault (a 4xx that is not a
rate limit) ends the request at once, since another target would refuse it the same way.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import orjson
from pydantic import ValidationError

from api_connector.config import ProviderConfig, Strategy
from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.credentials.resolver import CredentialResolver
from api_connector.errors import (
    AllTargetsFailed,
    CapabilityUnsupported,
    CredentialError,
    RequestError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from api_connector.routing.catalog import Catalog, ProviderInstance, Route, Target
from api_connector.routing.classify import classify_status
from api_connector.routing.strategies import order_targets
from api_connector.transport.http import Timeouts, Transport, UpstreamResponse, UpstreamStream
from api_connector.wire.base import ChatResult, ChatStreamTranslator, ChatWire
from api_connector.wire.sse import SSEParser

T = TypeVar("T")
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 2.0


@dataclass(slots=True)
class CallContext:
    """Who is calling and under what limits; one per incoming request."""

    request_id: str
    project_id: str
    key_id: str | None
    capability: Capability
    forward_headers: Mapping[str, str] = field(default_factory=dict)
    deadline: float | None = None  # a time.perf_counter() value
    retries: int = 1
    attempts: list[UpstreamError] = field(default_factory=list)
    served_by: Target | None = None
    upstream_seconds: float = 0.0  # time spent waiting on upstreams, for the overhead metric

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.perf_counter()


@dataclass(slots=True)
class PreparedCall:
    """One upstream request ready to send: URL, headers with the credential, body."""

    target: Target
    method: str
    url: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]
    body: bytes | None
    timeouts: Timeouts


class ChatStream:
    """A streamed chat answer whose first payloads already arrived (so failover is over)."""

    def __init__(
        self,
        target: Target,
        upstream: UpstreamStream,
        translator: ChatStreamTranslator,
        parser: SSEParser,
        first: list[bytes],
        rest: AsyncIterator[list[bytes]],
        pending: UpstreamError | None = None,
    ) -> None:
        self.target = target
        self.translator = translator
        self.first = first
        self._pending = pending  # a failure that came in the same read as the first payloads
        self._upstream = upstream
        self._parser = parser
        self._rest = rest

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """OpenAI chunk payloads to the end, grouped by upstream read; raises UpstreamError on a break."""
        try:
            if self.first:
                yield self.first
            if self._pending is not None:
                raise self._pending
            async for lines in self._rest:
                payloads, failure = _translate_lines(self._parser, self.translator, self.target, lines)
                if payloads:
                    yield payloads
                if failure is not None:
                    raise failure
            tail = self._parser.close()
            last = self.translator.feed(tail) if tail is not None else []
            last.extend(self.translator.finish())
            if last:
                yield last
            if not self.translator.state.done:
                raise UpstreamProtocolError("upstream stream ended early", provider=self.target.instance.name)
        finally:
            self._upstream.close()

    def close(self) -> None:
        self._upstream.close()


def _translate_lines(
    parser: SSEParser, translator: ChatStreamTranslator, target: Target, lines: list[bytes]
) -> tuple[list[bytes], UpstreamError | None]:
    """The payloads these lines make, and the in-stream failure that stopped them, if any."""
    payloads: list[bytes] = []
    for line in lines:
        event = parser.feed_line(line)
        if event is not None:
            payloads.extend(translator.feed(event))
            error = translator.state.error
            if error is not None:
                return payloads, classify_status(500, error, {}, provider=target.instance.name)
    return payloads, None


class Dispatcher:
    def __init__(
        self,
        catalog: Catalog,
        transport: Transport,
        credentials: CredentialResolver,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.catalog = catalog
        self._transport = transport
        self._credentials = credentials
        self._rng = rng

    def install_project_providers(self, project_id: str, providers: list[tuple[str, ProviderConfig]]) -> None:
        """Replace a project's own instances; their connections are held to the SSRF policy."""
        self.catalog.set_project_providers(project_id, providers)
        for instance in self.catalog.instances(project_id):
            if instance.project_id == project_id:
                self._transport.configure_pool(instance.pool, max_connections=instance.max_connections, guarded=True)

    # -- chat ---------------------------------------------------------------------------------
    async def chat(self, ctx: CallContext, request: ChatRequest) -> ChatResult:
        route = self.catalog.resolve(ctx.project_id, request.model)

        async def once(target: Target) -> ChatResult:
            wire = _chat_wire(target)
            call = await self._prepare_chat(ctx, target, wire, request)
            started = time.perf_counter()
            try:
                response = await self._transport.send(
                    target.instance.pool,
                    call.method,
                    call.url,
                    headers=call.headers,
                    body=call.body,
                    timeouts=call.timeouts,
                    params=call.params,
                    local=target.instance.spec.local,
                    path=call.path,
                )
            finally:
                ctx.upstream_seconds += time.perf_counter() - started
            if response.status >= 400:
                raise classify_status(
                    response.status, wire.decode_error(response.body), response.headers, provider=target.instance.name
                )
            try:
                return wire.decode_response(response.body, request)
            except (ValidationError, ValueError):
                raise UpstreamProtocolError(
                    "upstream answered with a body that is not a chat completion", provider=target.instance.name
                ) from None

        return await self._with_failover(ctx, route, once)

    async def chat_stream(self, ctx: CallContext, request: ChatRequest) -> ChatStream:
        route = self.catalog.resolve(ctx.project_id, request.model)

        async def once(target: Target) -> ChatStream:
            wire = _chat_wire(target)
            call = await self._prepare_chat(ctx, target, wire, request)
            upstream = await self._transport.open_stream(
                target.instance.pool,
                call.method,
                call.url,
                headers=call.headers,
                body=call.body,
                timeouts=call.timeouts,
                params=call.params,
                local=target.instance.spec.local,
                path=call.path,
            )
            try:
                if upstream.status >= 400:
                    body = await upstream.read_all()
                    raise classify_status(
                        upstream.status, wire.decode_error(body), upstream.headers, provider=target.instance.name
                    )
                return await _first_payloads(target, upstream, wire.stream_translator(request))
            except BaseException:
                upstream.close()
                raise

        return await self._with_failover(ctx, route, once)

    async def _prepare_chat(
        self, ctx: CallContext, target: Target, wire: ChatWire, request: ChatRequest
    ) -> PreparedCall:
        endpoint = target.instance.spec.endpoints[Capability.CHAT]
        path = endpoint.path.replace("{model}", target.model)
        if request.stream and endpoint.stream_path:
            path = endpoint.stream_path.replace("{model}", target.model)
        headers = {"content-type": "application/json"}
        if request.stream:
            headers["accept"] = "text/event-stream"
        return await self.prepare(
            ctx, target, endpoint.method, path, headers, wire.encode_request(request, target.model)
        )

    async def prepare(
        self,
        ctx: CallContext,
        target: Target,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None = None,
    ) -> PreparedCall:
        """Headers from the spec and the instance, forwarded controls, then the credential last."""
        instance = target.instance
        spec = instance.spec
        merged = dict(spec.headers)
        merged.update(instance.headers)
        for name, value in ctx.forward_headers.items():
            if spec.passthrough_header_prefixes and name.startswith(spec.passthrough_header_prefixes):
                merged[name] = value
        merged.update(headers)
        query = dict(params or {})
        if instance.credential is not None:
            secret = await self._credentials.resolve(instance.credential)
            merged.update(spec.auth.headers_for(secret))
            query.update(spec.auth.query_for(secret))
        remaining = ctx.remaining()
        if remaining is not None and remaining <= 0:
            raise UpstreamTimeout("the request's deadline passed before it could be sent", provider=instance.name)
        return PreparedCall(
            target, method, instance.base_url + path, path, merged, query, body, instance.timeouts.capped(remaining)
        )

    # -- any HTTP call ------------------------------------------------------------------------
    async def send_raw(
        self,
        ctx: CallContext,
        instance: ProviderInstance,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> UpstreamResponse:
        """The generic request API's call: one instance, retried on retryable failures."""
        route = Route(instance.name, Strategy.PRIORITY, (Target(instance, ""),))

        async def once(target: Target) -> UpstreamResponse:
            call = await self.prepare(ctx, target, method, path, headers, body)
            started = time.perf_counter()
            try:
                response = await self._transport.send(
                    instance.pool,
                    method,
                    call.url,
                    headers=call.headers,
                    body=body,
                    timeouts=call.timeouts,
                    params=call.params,
                    local=instance.spec.local,
                    path=path,
                )
            finally:
                ctx.upstream_seconds += time.perf_counter() - started
            if response.status >= 400:
                raise _raw_failure(response.status, response.headers, response.body, instance.name)
            return response

        return await self._with_failover(ctx, route, once)

    async def open_raw_stream(
        self,
        ctx: CallContext,
        instance: ProviderInstance,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> UpstreamStream:
        """Like ``send_raw`` but the body is streamed back; failover ends once the headers are in."""
        route = Route(instance.name, Strategy.PRIORITY, (Target(instance, ""),))

        async def once(target: Target) -> UpstreamStream:
            call = await self.prepare(ctx, target, method, path, headers, body)
            upstream = await self._transport.open_stream(
                instance.pool,
                method,
                call.url,
                headers=call.headers,
                body=body,
                timeouts=call.timeouts,
                params=call.params,
                local=instance.spec.local,
                path=path,
            )
            if upstream.status >= 400:
                try:
                    payload = await upstream.read_all()
                finally:
                    upstream.close()
                raise _raw_failure(upstream.status, upstream.headers, payload, instance.name)
            return upstream

        return await self._with_failover(ctx, route, once)

    # -- failover and retries -----------------------------------------------------------------
    async def _with_failover(self, ctx: CallContext, route: Route, once: Callable[[Target], Awaitable[T]]) -> T:
        targets = order_targets(route, ctx.capability, self._rng)
        # A target that cannot take this request (untranslatable, credential missing) is passed over;
        # its reason is what the caller hears only if no other target served.
        passed_over: list[RequestError | CredentialError] = []
        for target in targets:
            for attempt in range(ctx.retries + 1):
                try:
                    result = await once(target)
                except UpstreamError as error:
                    error.provider = error.provider or target.instance.name
                    ctx.attempts.append(error)
                    if not error.retryable:
                        raise
                    if attempt < ctx.retries and not await self._backoff(ctx, attempt, error):
                        break
                    continue
                except (RequestError, CredentialError) as unsuitable:
                    unsuitable.provider = unsuitable.provider or target.instance.name
                    passed_over.append(unsuitable)
                    break
                ctx.served_by = target
                return result
        if not ctx.attempts:
            if passed_over:
                raise passed_over[0]
            raise CapabilityUnsupported(f"no target of {route.name!r} supports {ctx.capability.value}", param="model")
        if len(targets) == 1:
            raise ctx.attempts[-1]  # one target: its own failure says more than "all targets failed"
        raise AllTargetsFailed(list(ctx.attempts))

    async def _backoff(self, ctx: CallContext, attempt: int, error: UpstreamError) -> bool:
        """Wait before the next try (full jitter, or what Retry-After asks); False if the deadline forbids."""
        delay = (
            error.retry_after
            if error.retry_after is not None
            else (self._rng() * min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
        )
        remaining = ctx.remaining()
        if remaining is not None and delay >= remaining:
            return False
        if delay > _BACKOFF_CAP * 5:
            return False  # a long Retry-After: better to move on to the next target now
        await asyncio.sleep(delay)
        return True


def _chat_wire(target: Target) -> ChatWire:
    endpoint = target.instance.spec.endpoints.get(Capability.CHAT)
    if endpoint is None or endpoint.wire is None:
        raise CapabilityUnsupported(f"provider {target.instance.name!r} does not offer chat")
    return endpoint.wire


async def _first_payloads(target: Target, upstream: UpstreamStream, translator: ChatStreamTranslator) -> ChatStream:
    """Read until the first payload for the client exists: failures until then can still fail over."""
    parser = SSEParser()
    batches = upstream.batches()
    first: list[bytes] = []
    failure: UpstreamError | None = None
    async for lines in batches:
        payloads, failure = _translate_lines(parser, translator, target, lines)
        first.extend(payloads)
        if failure is not None and not first:
            raise failure  # nothing reached the client yet: the next target may serve
        if first or translator.state.done:
            break
    if not first and not translator.state.done:
        raise UpstreamProtocolError("upstream stream ended before any data", provider=target.instance.name)
    return ChatStream(target, upstream, translator, parser, first, batches, failure)


def _raw_failure(status: int, headers: Mapping[str, str], body: bytes, provider: str) -> UpstreamError:
    """A generic call's failure, classified, with what the upstream said kept for the caller."""
    error = classify_status(status, None, headers, provider=provider)
    text = body[:4096].decode("utf-8", "replace")
    try:
        said: object = orjson.loads(body) if body and len(body) <= 65536 else text
    except orjson.JSONDecodeError:
        said = text
    error.details = {**(error.details or {}), "upstream_status": status, "upstream_body": said}
    return error
