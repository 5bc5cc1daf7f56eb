"""``POST /v1/embeddings`` in the OpenAI shape: parse, run the embeddings capability, render."""

from __future__ import annotations

from aiohttp import web

from api_connector.api.context import call_for, parse_model, read_json
from api_connector.api.middleware import Routes
from api_connector.api.render import raw_json_response
from api_connector.api.services import SERVICES
from api_connector.capabilities.embeddings import EMBEDDINGS
from api_connector.core.capabilities import Capability
from api_connector.core.embeddings import EmbeddingsRequest, render

# Set when the vendor's answer did not say what it used and the input tokens are the gateway's estimate.
USAGE_ESTIMATED_HEADER = "x-usage-estimated"


async def embeddings(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    asked = parse_model(EmbeddingsRequest, await read_json(request))
    async with services.pipeline.run(call_for(request, Capability.EMBEDDINGS), EMBEDDINGS, asked) as run:
        assert run.result is not None  # embeddings are never streamed
        response = raw_json_response(render(run.result, asked.encoding_format))
        response.headers.update(run.headers)
        if run.result.estimated:
            response.headers[USAGE_ESTIMATED_HEADER] = "true"
        return response


def setup(routes: Routes) -> None:
    routes.add_post("/v1/embeddings", embeddings)
