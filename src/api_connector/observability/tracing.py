"""OpenTelemetry traces (off unless ``TRACING_ENABLED``): one span per request, one per upstream attempt.

When tracing is on, each call carries a live ``RequestTrace`` (``Call.tracing``): the request span
starts with it, as a child of the caller's W3C ``traceparent`` when one came with the request; each
upstream attempt runs inside a span of its own (``Resilience`` wraps the attempt), and that span's id
goes upstream in the attempt's ``traceparent`` header (``routing.exchange`` asks for it), so the
provider's spans join the same trace. The request span is finished with its outcome and usage when the
recorder books the call. When tracing is off no trace object exists and nothing here runs.

Attributes follow the GenAI semantic conventions (``gen_ai.*``); the exporter is whatever the process's
tracer provider has (OTLP, console, or a test's in-memory one). Span attributes carry no secret:
provider names, models, codes and counts only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from api_connector.errors import UpstreamError

if TYPE_CHECKING:
    from api_connector.core.call import Call
    from api_connector.core.capabilities import Capability
    from api_connector.core.usage import Usage
    from api_connector.errors import ConnectorError
    from api_connector.routing.attempts import AttemptLog
    from api_connector.routing.catalog import Target

T = TypeVar("T")
_OPERATIONS = {"chat": "chat", "embeddings": "embeddings", "rerank": "rerank", "requests": "request"}
_PROPAGATOR = TraceContextTextMapPropagator()


def _ns(perf: float) -> int:
    """A ``time.perf_counter()`` instant as epoch nanoseconds (what span times are given in)."""
    return time.time_ns() - int((time.perf_counter() - perf) * 1e9)


class RequestTrace:
    """The live spans of one request: the request's own, and the attempt in flight."""

    __slots__ = ("_context", "_current", "_tracer", "span")

    def __init__(self, tracer: Tracer, span: Span) -> None:
        self._tracer = tracer
        self.span = span
        self._context = trace.set_span_in_context(span)
        self._current: Span | None = None

    async def attempt(self, target: Target, once: Callable[[Target], Awaitable[T]]) -> T:
        """Run one attempt inside a CLIENT span that records its outcome."""
        provider = target.instance.name
        attributes: dict[str, Any] = {
            "gen_ai.system": target.instance.spec.type,
            "gen_ai.request.model": target.model,
            "api_connector.provider": provider,
        }
        span = self._tracer.start_span(
            f"upstream {provider}", context=self._context, kind=SpanKind.CLIENT, attributes=attributes
        )
        self._current = span
        try:
            return await once(target)
        except UpstreamError as error:
            if error.upstream_status is not None:
                span.set_attribute("http.response.status_code", error.upstream_status)
            self._failed(span, error.code)
            raise
        except BaseException as error:
            self._failed(span, type(error).__name__)
            raise
        finally:
            self._current = None
            span.end()

    @staticmethod
    def _failed(span: Span, code: str) -> None:
        span.set_attribute("error.type", code)
        span.set_status(Status(StatusCode.ERROR, code))

    def inject(self, headers: dict[str, str]) -> None:
        """The attempt's ``traceparent`` (and the caller's ``tracestate``) into its upstream headers."""
        if self._current is not None:
            _PROPAGATOR.inject(headers, context=trace.set_span_in_context(self._current))


class Tracing:
    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._tracer = (provider or trace.get_tracer_provider()).get_tracer("api_connector")

    def begin(
        self, capability: Capability, caller_headers: Mapping[str, str] | None = None, started: float | None = None
    ) -> RequestTrace:
        """Start a call's span: under the caller's ``traceparent`` when one came (and is valid), else
        under the current span of this process (the embedded Connector's caller)."""
        parent: Context | None = None
        if caller_headers is not None and "traceparent" in caller_headers:
            carrier = {k: caller_headers[k] for k in ("traceparent", "tracestate") if k in caller_headers}
            parent = _PROPAGATOR.extract(carrier)  # an invalid header yields an empty context: a new trace
        operation = _OPERATIONS.get(capability.value, capability.value)
        start = _ns(time.perf_counter() if started is None else started)
        span = self._tracer.start_span(operation, context=parent, kind=SpanKind.SERVER, start_time=start)
        return RequestTrace(self._tracer, span)

    def request(
        self, call: Call, log: AttemptLog, *, usage: Usage, error: ConnectorError | None, provider: str
    ) -> None:
        """Finish the call's span with its outcome (begun now if the call had no live trace)."""
        live = call.tracing
        if not isinstance(live, RequestTrace):
            live = self.begin(call.capability, None, call.started)
        span = live.span
        operation = _OPERATIONS.get(call.capability.value, call.capability.value)
        target = log.served_by
        model = target.model if target else ""
        span.update_name(f"{operation} {model}".strip())
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.system": target.instance.spec.type if target else provider,
            "gen_ai.request.model": model,
            "api_connector.provider": provider,
            "api_connector.request_id": call.request_id,
            "api_connector.attempts": log.made,
        }
        if usage.input_tokens or usage.output_tokens:
            attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        if error is not None:
            attributes["error.type"] = error.code
            span.set_status(Status(StatusCode.ERROR, error.code))
        span.set_attributes(attributes)
        span.end()
