"""The pipeline every entry point runs, its layers in order:

    admission -> caller limits and budgets -> record -> cache -> coalesce
    -> dispatch (route, strategy, breakers, quota steering; per attempt: provider limits, credential,
       deadline, send, classify; retry and failover; answers scrubbed; dead letters)

A handler is parse -> ``async with pipeline.run(call, capability, request) as run`` -> render: the
run holds the whole answer (``run.result``) or a stream (``run.stream``) to deliver inside the block,
and leaving the block ends the call (slots given back, limits settled, usage recorded, a stream's
cache entry written). Layers that have nothing to do for a call cost it a plain call each.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from api_connector.core.call import Call
from api_connector.errors import ConnectorError
from api_connector.observability.payloads import PayloadTap
from api_connector.pipeline.cache import CacheLayer
from api_connector.pipeline.dispatch import DispatchLayer
from api_connector.pipeline.layers import AdmissionLayer, CoalesceLayer, LimitsLayer, Step
from api_connector.pipeline.run import Run

if TYPE_CHECKING:
    from api_connector.capabilities.base import CapabilitySpec
    from api_connector.governance.wiring import Governance
    from api_connector.observability.recorder import Recorder
    from api_connector.observability.redaction import Redactor
    from api_connector.routing.admission import Admission
    from api_connector.routing.catalog import Catalog
    from api_connector.routing.dead_letter import DeadLetters
    from api_connector.routing.exchange import Upstreams
    from api_connector.routing.failover import Resilience

log = logging.getLogger(__name__)
Req = TypeVar("Req")
Res = TypeVar("Res")


class RecordLayer:
    """Once the answer is delivered (or failed): metrics, health, trace, cost and the usage row.

    For a project whose request audit keeps bodies (``audit.payloads: sanitized``) it also holds on to
    the request, the answer, and a stream's pieces as they pass, for the batch writer to sanitize;
    unless some project keeps bodies, no policy is even looked up.
    """

    __slots__ = ("_inner", "_policies", "_recorder", "_redactor")

    def __init__(self, inner: Step, recorder: Recorder, redactor: Redactor) -> None:
        self._inner = inner
        self._recorder = recorder
        self._redactor = redactor
        policies = recorder.audit_policies
        self._policies = policies if policies is not None and policies.sanitizing else None

    def __call__(self, run: Run[Any, Any]) -> Any:
        policies = self._policies
        if policies is not None:
            policy = policies.of(run.call.project_id)
            if policy.mode == "sanitized":
                return self._keeping(run, PayloadTap(run.spec, run.asked, policy, self._redactor))
        run.on_end(self._finish)
        return self._inner(run)

    async def _keeping(self, run: Run[Any, Any], tap: PayloadTap) -> None:
        run.on_end(partial(self._finish_kept, tap))
        await self._inner(run)
        if run.stream is not None:
            tap.watch(run.stream)  # before the caller reads it: every piece passes the tap

    def _finish(self, run: Run[Any, Any], failure: ConnectorError | None) -> Any:
        return self._recorder.finish(run.call, run.log, run.usage(), failure, run.source)

    def _finish_kept(self, tap: PayloadTap, run: Run[Any, Any], failure: ConnectorError | None) -> Any:
        tap.result, tap.failure = run.result, failure
        return self._recorder.finish(run.call, run.log, run.usage(), failure, run.source, tap)


class Pipeline:
    def __init__(
        self,
        *,
        catalog: Catalog,
        resilience: Resilience,
        upstreams: Upstreams,
        recorder: Recorder,
        redactor: Redactor,
        governance: Governance | None = None,
        admission: Admission | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        step: Step = DispatchLayer(catalog, resilience, upstreams, redactor, governance, dead_letters)
        if governance is not None:
            step = CoalesceLayer(step, governance)
            step = CacheLayer(step, governance, catalog)
        step = RecordLayer(step, recorder, redactor)
        if governance is not None:
            step = LimitsLayer(step, governance)
        if admission is not None:
            step = AdmissionLayer(step, admission)
        self._first = step

    def run(self, call: Call, spec: CapabilitySpec[Req, Res], request: Req) -> Running[Req, Res]:
        """``async with`` it: the run with its answer inside, the call ended on leaving."""
        return Running(self._first, Run(call, spec, request))


class Running(Generic[Req, Res]):
    """The async context of one call: enters by running the layers, exits by ending the call."""

    __slots__ = ("_first", "run")

    def __init__(self, first: Step, run: Run[Req, Res]) -> None:
        self._first = first
        self.run = run

    async def __aenter__(self) -> Run[Req, Res]:
        run = self.run
        try:
            await self._first(run)
        except BaseException as error:
            await _settled(run.end(error))
            raise
        return run

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        pending = self.run.end(error)
        if pending:
            await _settled(pending)


async def _settled(pending: list[Awaitable[None]]) -> None:
    """Wait for what the end hooks left (a full record queue's back-pressure, a cache write)."""
    for waiting in pending:
        try:
            await waiting
        except Exception:
            log.exception("a pipeline end hook failed")
