"""OpenTelemetry traces (off unless ``TRACING_ENABLED``): one span per request, one per upstream attempt.

Spans are written when the request finishes, from what the call context recorded (start times, each
failed attempt's timing, the target that served): nothing is added to the request path, and a gateway
without tracing pays nothing. Attributes follow the GenAI semantic conventions (``gen_ai.*``); the
exporter is whatever the process's tracer provider has (OTLP, console, or a test's in-memory one).
Span attributes carry no secret: provider names, models, codes and counts only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

if TYPE_CHECKING:
    from api_connector.core.usage import Usage
    from api_connector.errors import ConnectorError
    from api_connector.routing.dispatch import CallContext

_OPERATIONS = {"chat": "chat", "embeddings": "embeddings", "requests": "request"}


def _ns(perf: float, anchor_perf: float, anchor_ns: int) -> int:
    return anchor_ns + int((perf - anchor_perf) * 1e9)


class Tracing:
    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._tracer = (provider or trace.get_tracer_provider()).get_tracer("api_connector")

    def request(
        self, ctx: CallContext, *, started: float, usage: Usage, error: ConnectorError | None, provider: str
    ) -> None:
        now_perf, now_ns = time.perf_counter(), time.time_ns()
        operation = _OPERATIONS.get(ctx.capability.value, ctx.capability.value)
        target = ctx.served_by
        model = target.model if target else ""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.system": target.instance.spec.type if target else provider,
            "gen_ai.request.model": model,
            "api_connector.provider": provider,
            "api_connector.request_id": ctx.request_id,
            "api_connector.attempts": ctx.attempts_made,
        }
        if usage.prompt_tokens or usage.completion_tokens:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if error is not None:
            attributes["error.type"] = error.code
        span = self._tracer.start_span(
            f"{operation} {model}".strip(),
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=_ns(started, now_perf, now_ns),
        )
        parent = trace.set_span_in_context(span)
        failed = 0.0
        for step in ctx.trace:
            if step["skipped"]:
                continue
            begin = ctx.started + step["at_ms"] / 1000
            failed += step["elapsed_ms"] / 1000
            self._attempt(
                parent,
                step["provider"],
                step["model"],
                begin,
                step["elapsed_ms"] / 1000,
                step["code"],
                step["status"],
                now_perf,
                now_ns,
            )
        if target is not None and error is None:
            seconds = max(0.0, ctx.upstream_seconds - failed)
            begin = max(started, time.perf_counter() - seconds)
            self._attempt(parent, target.instance.name, model, begin, seconds, None, None, now_perf, now_ns)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error.code))
        span.end(end_time=now_ns)

    def _attempt(
        self,
        parent: Any,
        provider: str,
        model: str,
        begin: float,
        seconds: float,
        code: str | None,
        status: int | None,
        now_perf: float,
        now_ns: int,
    ) -> None:
        attributes: dict[str, Any] = {"gen_ai.request.model": model, "api_connector.provider": provider}
        if status is not None:
            attributes["http.response.status_code"] = status
        if code is not None:
            attributes["error.type"] = code
        start = _ns(begin, now_perf, now_ns)
        span = self._tracer.start_span(
            f"upstream {provider}", context=parent, kind=SpanKind.CLIENT, attributes=attributes, start_time=start
        )
        if code is not None:
            span.set_status(Status(StatusCode.ERROR, code))
        span.end(end_time=start + int(seconds * 1e9))
