"""``POST /v1/rerank``: documents ordered by relevance to a query (``core.rerank`` says the shapes)."""

from __future__ import annotations

from aiohttp import web

from api_connector.api.context import call_for, parse_model, read_json
from api_connector.api.middleware import Routes
from api_connector.api.render import json_response
from api_connector.api.services import SERVICES
from api_connector.capabilities.rerank import RERANK
from api_connector.core.capabilities import Capability
from api_connector.core.rerank import RerankRequest


async def rerank(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    rerank_request = parse_model(RerankRequest, await read_json(request))
    async with services.pipeline.run(call_for(request, Capability.RERANK), RERANK, rerank_request) as run:
        assert run.result is not None  # rerank answers are whole
        return json_response(run.result.answer(), headers=run.headers or None)


def setup(routes: Routes) -> None:
    routes.add_post("/v1/rerank", rerank)
