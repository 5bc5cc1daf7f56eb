"""The innermost layer: route the call, try its targets, scrub what comes back, keep what failed.

The capability resolves where the request may go; the provider quotas seen in answers steer the
order; the router tries each target in turn (``routing.failover.Resilience``), admitting each attempt
against the provider credential's own limits first (``Governance.before_attempt``); one attempt is the
capability's ``fetch`` (a whole answer) or ``open`` (a stream) over an ``Exchange`` with that target.
Answers are scrubbed of every known secret as they come in (text answers only, as the capability
says: the cache and coalesced callers get them clean). A call that failed on every target, for
reasons a later replay might not meet, goes to the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from api_connector.errors import UpstreamError
from api_connector.observability.redaction import Redactor
from api_connector.pipeline.run import Run
from api_connector.routing.catalog import Catalog, Target
from api_connector.routing.classify import decide
from api_connector.routing.dead_letter import DeadLetters
from api_connector.routing.exchange import Upstreams
from api_connector.routing.failover import Admit, Resilience

if TYPE_CHECKING:
    from api_connector.governance.wiring import Governance


class DispatchLayer:
    __slots__ = ("_catalog", "_dead_letters", "_gov", "_redactor", "_resilience", "_upstreams")

    def __init__(
        self,
        catalog: Catalog,
        resilience: Resilience,
        upstreams: Upstreams,
        redactor: Redactor,
        governance: Governance | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self._catalog = catalog
        self._resilience = resilience
        self._upstreams = upstreams
        self._redactor = redactor
        self._gov = governance
        self._dead_letters = dead_letters

    async def __call__(self, run: Run[Any, Any]) -> None:
        call, spec, request, log = run.call, run.spec, run.request, run.log
        gov = self._gov
        admit: Admit | None = None
        if gov is not None and gov.provider_limits:

            def admit(target: Target) -> Awaitable[None] | None:
                return gov.before_attempt(target, run.scope, call.remaining())

        upstreams = self._upstreams
        streamed = spec.streamed(request)
        if streamed:

            def once(target: Target) -> Awaitable[Any]:
                return spec.open(request, upstreams.exchange(call, log, target))

        else:

            def once(target: Target) -> Awaitable[Any]:
                return spec.fetch(request, upstreams.exchange(call, log, target))

        try:
            route = spec.route(self._catalog, call.project_id, request)
            if gov is not None:
                route = gov.steer(route)
            answer = await self._resilience.run(
                call, log, route, spec.needs(request), once, admit=admit, resendable=spec.resendable(call, request)
            )
        except UpstreamError as error:
            sink = self._dead_letters
            if sink is not None and call.dead_letter and decide(error).dead_letter:
                # The whole request, not the part the cache narrowed it to: a replay answers the caller's.
                target, payload = spec.dead_letter(run.asked)
                await sink.capture(call, log, spec.kind, target, payload, error)
            raise
        if streamed:
            found = spec.stream_filter(answer, self._redactor)
            if found is not None:
                answer.add_filter(*found)
            run.stream = answer
        else:
            run.result = spec.scrub(answer, self._redactor)
