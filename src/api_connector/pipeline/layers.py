"""The small layers of the pipeline: admission, caller limits, scrubbing, coalescing, dead letters.

Each is built around the next step and called with the run; one that has nothing to do for a call
hands it on without a coroutine of its own (a plain call returning the inner step's awaitable), so a
call pays only for what it uses. What must happen after the answer is delivered is registered with
``run.on_end``. The cache, the record and the dispatch layers have modules of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from api_connector.errors import ConnectorError, UpstreamError
from api_connector.governance.cache import request_key
from api_connector.observability.redaction import Redactor
from api_connector.pipeline.run import Run
from api_connector.routing.admission import Admission
from api_connector.routing.classify import decide
from api_connector.routing.dead_letter import DeadLetters

if TYPE_CHECKING:
    from api_connector.governance.wiring import Governance

Step = Callable[[Run[Any, Any]], Awaitable[None]]


class AdmissionLayer:
    """A bound on calls served at once, shed by priority; a call counts until its answer is delivered."""

    __slots__ = ("_admission", "_inner")

    def __init__(self, inner: Step, admission: Admission) -> None:
        self._inner = inner
        self._admission = admission

    def __call__(self, run: Run[Any, Any]) -> Awaitable[None]:
        self._admission.enter(run.call.priority)  # or raises Overloaded (503, Retry-After)
        run.on_end(self._leave)
        return self._inner(run)

    def _leave(self, run: Run[Any, Any], failure: ConnectorError | None) -> None:
        self._admission.leave()


class LimitsLayer:
    """The caller's rate limits and budgets (one store call), held until the answer is delivered, then
    settled with what it really used. Untouched when nothing is configured."""

    __slots__ = ("_gov", "_inner")

    def __init__(self, inner: Step, governance: Governance) -> None:
        self._inner = inner
        self._gov = governance

    def __call__(self, run: Run[Any, Any]) -> Awaitable[None]:
        if not self._gov.gates:
            return self._inner(run)
        return self._governed(run)

    async def _governed(self, run: Run[Any, Any]) -> None:
        call, spec, request = run.call, run.spec, run.request
        scope = await self._gov.open_scope(call.project_id, call.key_id, lambda: spec.estimate_tokens(request))
        run.scope = scope
        run.headers.update(scope.headers)  # x-ratelimit-* on every answer, streams included
        run.on_end(self._settle)
        await self._inner(run)

    def _settle(self, run: Run[Any, Any], failure: ConnectorError | None) -> None:
        scope = run.scope
        assert scope is not None
        if failure is None:
            # A cached answer used no provider tokens; any other answer used what it says.
            scope.actual_tokens = 0 if run.source in ("cache", "stale") else run.usage().total_tokens
        self._gov.close_scope(scope)


class ScrubLayer:
    """Every secret the service knows masked in the answer (text answers only, as the capability says)."""

    __slots__ = ("_inner", "_redactor")

    def __init__(self, inner: Step, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    async def __call__(self, run: Run[Any, Any]) -> None:
        await self._inner(run)
        if run.result is not None:
            run.result = run.spec.scrub(run.result, self._redactor)
        elif run.stream is not None:
            found = run.spec.stream_filter(run.stream, self._redactor)
            if found is not None:
                run.stream.add_filter(*found)


class CoalesceLayer:
    """Identical whole-answer calls in flight at once share one upstream call: deterministic requests,
    cached ones, and those whose caller opted in (``x-coalesce: 1``)."""

    __slots__ = ("_gov", "_inner")

    def __init__(self, inner: Step, governance: Governance) -> None:
        self._inner = inner
        self._gov = governance

    def __call__(self, run: Run[Any, Any]) -> Awaitable[None]:
        call, spec, request = run.call, run.spec, run.request
        if spec.streamed(request) or not (
            call.coalesce or call.cache.ttl or call.cache.key or spec.deterministic(request)
        ):
            return self._inner(run)
        material = spec.cache_material(request)
        if material is None:
            return self._inner(run)
        return self._shared(run, request_key(call.project_id, None, [spec.kind, material]))

    async def _shared(self, run: Run[Any, Any], key: str) -> None:
        async def lead() -> tuple[Any, Any]:
            await self._inner(run)
            return run.result, run.log.served_by

        (result, served_by), joined = await self._gov.coalescer.run(key, lead)
        if joined:
            run.result, run.log.served_by, run.source = result, served_by, "coalesced"


class DeadLetterLayer:
    """A call that failed on every target, for reasons a later replay might not meet, is kept."""

    __slots__ = ("_inner", "_sink")

    def __init__(self, inner: Step, sink: DeadLetters | None) -> None:
        self._inner = inner
        self._sink = sink

    def __call__(self, run: Run[Any, Any]) -> Awaitable[None]:
        if self._sink is None or not run.call.dead_letter:
            return self._inner(run)
        return self._kept(run)

    async def _kept(self, run: Run[Any, Any]) -> None:
        try:
            await self._inner(run)
        except UpstreamError as error:
            if self._sink is not None and decide(error).dead_letter:
                # The whole request, not the part the cache narrowed it to: a replay answers the caller's.
                target, payload = run.spec.dead_letter(run.asked)
                await self._sink.capture(run.call, run.log, run.spec.kind, target, payload, error)
            raise
