"""The generic request API: any endpoint of any configured provider, credential injected by the service.

``POST /v1/requests`` answers the envelope ``{success, data?, error?, metadata}``;
``POST /v1/requests/stream`` streams the upstream body back as it arrives. Both run the request as
the ``requests`` capability (``capabilities.requests``) through the one pipeline.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from api_connector.api.context import cache_ask, call_for, parse_model, read_json
from api_connector.api.middleware import Routes
from api_connector.api.render import json_response
from api_connector.api.services import SERVICES, Services
from api_connector.api.streaming import write_raw
from api_connector.capabilities.requests import RAW, GenericRequest, RawRequest, decode_body
from api_connector.core.call import CacheAsk, Call
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Inbound
from api_connector.pipeline.run import Run


async def _planned(request: web.Request, stream: bool) -> tuple[Services, Call, RawRequest]:
    services = request.app[SERVICES]
    generic = parse_model(GenericRequest, await read_json(request))
    asked = generic.cache_key or generic.cache_ttl is not None
    call = call_for(
        request,
        generic.capability or Capability.REQUESTS,
        retries=generic.retries,
        timeout=generic.timeout,
        # The body's priority when it names one, else the x-priority header.
        priority=generic.priority if "priority" in generic.model_fields_set else None,
        # The body's cache fields over the headers' (a stale-if-error window only comes as a header).
        cache=CacheAsk(generic.cache_ttl, generic.cache_key, cache_ask(request).stale_if_error) if asked else None,
    )
    return services, call, RawRequest.plan(services.catalog, call.project_id, generic, stream)


def envelope(run: Run[RawRequest, Inbound]) -> dict[str, Any]:
    """The success envelope of a whole answer (shared with the embedded Connector)."""
    answer = run.result
    assert answer is not None
    call = run.call
    return {
        "success": True,
        "data": decode_body(answer.body, answer.headers.get("content-type", "")),
        "metadata": {
            "provider": run.request.instance.name,
            "status": answer.status,
            "response_time_ms": round((time.perf_counter() - call.started) * 1000, 2),
            "cached": run.source in ("cache", "stale"),
            "stale": run.source == "stale",
            "request_id": call.request_id,
        },
    }


async def generic_request(request: web.Request) -> web.Response:
    services, call, raw = await _planned(request, stream=False)
    async with services.pipeline.run(call, RAW, raw) as run:
        return json_response(envelope(run), headers=run.headers or None)


async def generic_stream(request: web.Request) -> web.StreamResponse:
    services, call, raw = await _planned(request, stream=True)
    async with services.pipeline.run(call, RAW, raw) as run:
        assert run.stream is not None
        headers = {
            "Content-Type": run.stream.headers.get("content-type", "application/octet-stream"),
            "x-request-id": call.request_id,
            "x-provider": raw.instance.name,
        }
        return await write_raw(request, run, headers)


def setup(routes: Routes) -> None:
    routes.add_post("/v1/requests", generic_request)
    routes.add_post("/v1/requests/stream", generic_stream)
