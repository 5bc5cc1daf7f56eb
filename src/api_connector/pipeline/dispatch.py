"""The innermost layer: route the call, then try its targets (``routing.failover.Resilience``).

The capability resolves where the request may go; the provider quotas seen in answers steer the
order; the router tries each target in turn, admitting each attempt against the provider
credential's own limits first (``Governance.before_attempt``); one attempt is the capability's
``fetch`` (a whole answer) or ``open`` (a stream) over an ``Exchange`` with that target.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from api_connector.pipeline.run import Run
from api_connector.routing.catalog import Catalog, Target
from api_connector.routing.exchange import Upstreams
from api_connector.routing.failover import Admit, Resilience

if TYPE_CHECKING:
    from api_connector.governance.wiring import Governance


class DispatchLayer:
    __slots__ = ("_catalog", "_gov", "_resilience", "_upstreams")

    def __init__(
        self, catalog: Catalog, resilience: Resilience, upstreams: Upstreams, governance: Governance | None
    ) -> None:
        self._catalog = catalog
        self._resilience = resilience
        self._upstreams = upstreams
        self._gov = governance

    async def __call__(self, run: Run[Any, Any]) -> None:
        call, spec, request, log = run.call, run.spec, run.request, run.log
        route = spec.route(self._catalog, call.project_id, request)
        gov = self._gov
        admit: Admit | None = None
        if gov is not None:
            route = gov.steer(route)
            if gov.provider_limits:

                def admit(target: Target) -> Awaitable[None]:
                    return gov.before_attempt(target, run.scope, call.remaining())

        upstreams = self._upstreams
        resendable = spec.resendable(call, request)
        needs = spec.needs(request)
        if spec.streamed(request):

            def open_stream(target: Target) -> Awaitable[Any]:
                return spec.open(request, upstreams.exchange(call, log, target))

            run.stream = await self._resilience.run(
                call, log, route, needs, open_stream, admit=admit, resendable=resendable
            )
        else:

            def fetch(target: Target) -> Awaitable[Any]:
                return spec.fetch(request, upstreams.exchange(call, log, target))

            run.result = await self._resilience.run(call, log, route, needs, fetch, admit=admit, resendable=resendable)
