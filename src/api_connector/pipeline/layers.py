"""The small layers of the pipeline: admission, caller limits and budgets, coalescing.

Each is built around the next step and called with the run; one that has nothing to do for a call
hands it on without a coroutine of its own (a plain call returning the inner step's awaitable), so a
call pays only for what it uses. What must happen after the answer is delivered is registered with
``run.on_end``. The cache, the record and the dispatch layers have modules of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from api_connector.core.call import NO_CACHE_ASK
from api_connector.errors import ConnectorError
from api_connector.governance.wiring import Scope
from api_connector.pipeline.run import Run
from api_connector.routing.admission import Admission

if TYPE_CHECKING:
    from api_connector.governance.limiter import Reservation
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
        gov = self._gov
        if not gov.gates:
            return self._inner(run)
        call, spec, request = run.call, run.spec, run.request
        # The scope holds the call's reservations (the provider's, per attempt, even when the caller has
        # no limits of its own) until the answer is delivered.
        scope = run.scope = Scope(lambda: spec.estimate_tokens(request))
        run.on_end(self._settle)
        admitting = gov.admit(call.project_id, call.key_id, scope)
        if admitting is None:
            return self._inner(run)
        return self._admitted(run, admitting)

    async def _admitted(self, run: Run[Any, Any], admitting: Awaitable[Reservation]) -> None:
        scope = run.scope
        assert scope is not None
        scope.caller = await admitting  # or raises the refusal (429 / 402)
        run.headers.update(scope.headers)  # x-ratelimit-* on every answer, streams included
        await self._inner(run)

    def _settle(self, run: Run[Any, Any], failure: ConnectorError | None) -> None:
        scope = run.scope
        assert scope is not None
        if failure is None:
            # A cached answer used no provider tokens; any other answer used what it says.
            scope.actual_tokens = 0 if run.source in ("cache", "stale") else run.usage().total_tokens
        self._gov.close_scope(scope)


class CoalesceLayer:
    """Identical whole-answer calls in flight at once share one upstream call: deterministic requests,
    cached ones, and those whose caller opted in (``x-coalesce: 1``)."""

    __slots__ = ("_gov", "_inner")

    def __init__(self, inner: Step, governance: Governance) -> None:
        self._inner = inner
        self._gov = governance

    def __call__(self, run: Run[Any, Any]) -> Awaitable[None]:
        call, spec, request = run.call, run.spec, run.request
        if not (call.coalesce or call.cache is not NO_CACHE_ASK or spec.deterministic(request)) or spec.streamed(
            request
        ):
            return self._inner(run)
        material = spec.cache_material(request)
        if material is None:
            return self._inner(run)
        # The canonical request itself is the key, not its SHA-256 as the cache's keys are: it lives
        # only in this process's table of calls in flight, where an exact key needs no digest, and
        # hashing a long request (an embeddings batch's texts) cost more than the rest of this layer.
        return self._shared(run, (call.project_id, orjson.dumps([spec.kind, material], option=orjson.OPT_SORT_KEYS)))

    async def _shared(self, run: Run[Any, Any], key: tuple[str, bytes]) -> None:
        async def lead() -> tuple[Any, Any]:
            await self._inner(run)
            return run.result, run.log.served_by

        (result, served_by), joined = await self._gov.coalescer.run(key, lead)
        if joined:
            run.result, run.log.served_by, run.source = result, served_by, "coalesced"
