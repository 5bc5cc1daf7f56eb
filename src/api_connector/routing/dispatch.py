"""Dispatch: resolve the route, build each attempt (credential injected), send it over the pooled client.

Everything provider-specific comes from the target's ProviderSpec and its wire; this module never looks
at a provider's name. What wraps the single attempt (retries, failover, breakers, the retry budget)
is ``failover.Resilience``; how an outcome is judged is ``classify``. A request that failed on every
target, for reasons a later replay might not meet, goes to the dead-letter sink.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson
from pydantic import ValidationError

from api_connector.config import ProviderConfig, Strategy
from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.credentials.resolver import CredentialResolver
from api_connector.errors import (
    CapabilityUnsupported,
    DeadlinePassed,
    UpstreamError,
    UpstreamProtocolError,
)
from api_connector.routing.catalog import Catalog, ProviderInstance, Route, Target
from api_connector.routing.classify import classify_status, decide
from api_connector.routing.failover import AttemptTracing, Resilience
from api_connector.routing.strategies import Needs
from api_connector.routing.streams import ChatStream, first_payloads
from api_connector.transport.http import Timeouts, Transport, UpstreamResponse, UpstreamStream
from api_connector.wire.base import ChatResult, ChatWire

__all__ = ["CallContext", "ChatStream", "DeadLetterSink", "Dispatcher", "PreparedCall"]


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
    started: float = field(default_factory=time.perf_counter)
    # Each failed attempt (and each target passed over) with its timing, for the dead-letter queue.
    trace: list[dict[str, Any]] = field(default_factory=list)
    attempts_made: int = 0
    budget_exhausted: bool = False
    dead_letter: bool = True  # False when replaying a dead letter: its outcome goes to its own entry
    tracing: AttemptTracing | None = None  # the request's live spans, only while tracing is on

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


T = TypeVar("T")


class DeadLetterSink(Protocol):
    async def capture(
        self, ctx: CallContext, kind: str, target: str, payload: dict[str, Any], error: UpstreamError
    ) -> None: ...


class DispatchHooks(Protocol):
    """What governance adds around each attempt: provider limits before, quota headers after."""

    async def before_attempt(self, target: Target) -> None: ...

    def after_attempt(self, target: Target, status: int, headers: Mapping[str, str]) -> None: ...

    def steer(self, route: Route) -> Route: ...


class Dispatcher:
    def __init__(
        self,
        catalog: Catalog,
        transport: Transport,
        credentials: CredentialResolver,
        rng: Callable[[], float] = random.random,
        *,
        resilience: Resilience | None = None,
        dead_letters: DeadLetterSink | None = None,
    ) -> None:
        self.catalog = catalog
        self._transport = transport
        self._credentials = credentials
        self.resilience = resilience or Resilience.in_memory(catalog.config.resilience, rng)
        self.dead_letters = dead_letters
        self.governance: DispatchHooks | None = None  # provider quotas and steering (governance/)

    def install_project_providers(self, project_id: str, providers: list[tuple[str, ProviderConfig]]) -> None:
        """Replace a project's own instances; their connections are held to the SSRF policy."""
        self.catalog.set_project_providers(project_id, providers)
        for instance in self.catalog.instances(project_id):
            if instance.project_id == project_id:
                self._transport.configure_pool(instance.pool, max_connections=instance.max_connections, guarded=True)

    # -- chat ---------------------------------------------------------------------------------
    async def chat(self, ctx: CallContext, request: ChatRequest) -> ChatResult:
        route = self.catalog.resolve(ctx.project_id, request.model)
        if self.governance is not None:
            route = self.governance.steer(route)

        async def once(target: Target) -> ChatResult:
            wire = _chat_wire(target)
            call = await self._prepare_chat(ctx, target, wire, request)
            response = await self._send(ctx, call)
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

        try:
            return await self.resilience.run(ctx, route, Needs(ctx.capability, request), once)
        except UpstreamError as error:
            await self._dead_letter(ctx, "chat", request.model, lambda: {"body": request.wire_dict()}, error)
            raise

    async def chat_stream(self, ctx: CallContext, request: ChatRequest) -> ChatStream:
        route = self.catalog.resolve(ctx.project_id, request.model)
        if self.governance is not None:
            route = self.governance.steer(route)

        async def once(target: Target) -> ChatStream:
            wire = _chat_wire(target)
            call = await self._prepare_chat(ctx, target, wire, request)
            upstream = await self._open(call)
            try:
                if upstream.status >= 400:
                    body = await upstream.read_all()
                    raise classify_status(
                        upstream.status, wire.decode_error(body), upstream.headers, provider=target.instance.name
                    )
                return await first_payloads(target, upstream, wire.stream_translator(request))
            except BaseException:
                upstream.close()
                raise

        try:
            return await self.resilience.run(ctx, route, Needs(ctx.capability, request), once)
        except UpstreamError as error:
            await self._dead_letter(ctx, "chat", request.model, lambda: {"body": request.wire_dict()}, error)
            raise

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
        merged = dict(instance.base_headers)
        if ctx.forward_headers and spec.passthrough_header_prefixes:
            for name, value in ctx.forward_headers.items():
                if name.startswith(spec.passthrough_header_prefixes):
                    merged[name] = value
        merged.update(headers)
        query = dict(params or {})
        credential = target.credential
        if credential is not None:
            secret = await self._credentials.resolve(credential, ctx, target.credential_owner)
            merged.update(spec.auth.headers_for(secret))
            query.update(spec.auth.query_for(secret))
        remaining = ctx.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlinePassed("the request's deadline passed before it could be sent", provider=instance.name)
        if self.governance is not None:
            await self.governance.before_attempt(target)
        if ctx.tracing is not None:
            ctx.tracing.inject(merged)  # W3C traceparent: this attempt's span
        return PreparedCall(
            target, method, instance.base_url + path, path, merged, query, body, instance.timeouts.capped(remaining)
        )

    async def _send(self, ctx: CallContext, call: PreparedCall) -> UpstreamResponse:
        started = time.perf_counter()
        try:
            response = await self._transport.send(
                call.target.instance.pool,
                call.method,
                call.url,
                headers=call.headers,
                body=call.body,
                timeouts=call.timeouts,
                params=call.params,
                local=call.target.instance.spec.local,
                path=call.path,
            )
        finally:
            ctx.upstream_seconds += time.perf_counter() - started
        if self.governance is not None:
            self.governance.after_attempt(call.target, response.status, response.headers)
        return response

    async def _open(self, call: PreparedCall) -> UpstreamStream:
        upstream = await self._transport.open_stream(
            call.target.instance.pool,
            call.method,
            call.url,
            headers=call.headers,
            body=call.body,
            timeouts=call.timeouts,
            params=call.params,
            local=call.target.instance.spec.local,
            path=call.path,
        )
        if self.governance is not None:
            self.governance.after_attempt(call.target, upstream.status, upstream.headers)
        return upstream

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

        async def once(target: Target) -> UpstreamResponse:
            response = await self._send(ctx, await self.prepare(ctx, target, method, path, headers, body))
            if response.status >= 400:
                raise _raw_failure(response.status, response.headers, response.body, instance.name)
            return response

        return await self._run_raw(ctx, instance, (method, path, headers, body), once)

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

        async def once(target: Target) -> UpstreamStream:
            upstream = await self._open(await self.prepare(ctx, target, method, path, headers, body))
            if upstream.status >= 400:
                try:
                    payload = await upstream.read_all()
                finally:
                    upstream.close()
                raise _raw_failure(upstream.status, upstream.headers, payload, instance.name)
            return upstream

        return await self._run_raw(ctx, instance, (method, path, headers, body), once)

    async def _run_raw(
        self,
        ctx: CallContext,
        instance: ProviderInstance,
        call: tuple[str, str, dict[str, str], bytes | None],
        once: Callable[[Target], Awaitable[T]],
    ) -> T:
        """A generic call through the resilience wrapper; what failed everywhere goes to the dead letters."""
        try:
            return await self.resilience.run(ctx, _single(instance), Needs(ctx.capability), once)
        except UpstreamError as error:
            payload = _raw_payload(instance, *call)
            await self._dead_letter(ctx, "request", instance.name, payload, error)
            raise

    async def _dead_letter(
        self,
        ctx: CallContext,
        kind: str,
        target: str,
        payload: dict[str, Any] | Callable[[], dict[str, Any]],
        error: UpstreamError,
    ) -> None:
        if self.dead_letters is None or not ctx.dead_letter or not decide(error).dead_letter:
            return
        body = payload() if callable(payload) else payload
        await self.dead_letters.capture(ctx, kind, target, body, error)


def _single(instance: ProviderInstance) -> Route:
    return Route(instance.name, Strategy.PRIORITY, (Target(instance, ""),))


def _chat_wire(target: Target) -> ChatWire:
    endpoint = target.instance.spec.endpoints.get(Capability.CHAT)
    if endpoint is None or endpoint.wire is None:
        raise CapabilityUnsupported(f"provider {target.instance.name!r} does not offer chat")
    return endpoint.wire


def _raw_payload(
    instance: ProviderInstance, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> dict[str, Any]:
    """A generic request as the caller sent it (before any credential was added), for a later replay."""
    decoded: Any = None
    kind = "none"
    if body:
        try:
            decoded, kind = orjson.loads(body), "json"
        except orjson.JSONDecodeError:
            decoded, kind = body.decode("utf-8", "replace"), "text"
    return {
        "provider": instance.name,
        "method": method,
        "endpoint": path,
        "headers": dict(headers),
        "body": decoded,
        "body_kind": kind,
    }


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
