"""The OpenAI-compatible routes: ``POST /v1/chat/completions`` (JSON and SSE) and ``GET /v1/models``."""

from __future__ import annotations

import time

from aiohttp import web

from api_connector.api.context import call_for, parse_model, project_of, read_json
from api_connector.api.middleware import Routes
from api_connector.api.render import json_response, raw_json_response
from api_connector.api.services import SERVICES
from api_connector.api.streaming import write_sse
from api_connector.capabilities.chat import CHAT
from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest


async def chat_completions(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    body = await read_json(request)
    if "model" not in body:
        # Callers that leave the model out get the operator's default (DEFAULT_OPENAI_MODEL).
        body["model"] = services.settings.default_openai_model
    chat = parse_model(ChatRequest, body)
    async with services.pipeline.run(call_for(request, Capability.CHAT), CHAT, chat) as run:
        if run.stream is not None:
            return await write_sse(request, run, services.redactor)
        assert run.result is not None
        response = raw_json_response(run.result.body)
        if run.headers:
            response.headers.update(run.headers)
        return response


async def list_models(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    created = int(time.time())
    data = [
        {"id": model_id, "object": "model", "created": created, "owned_by": owner}
        for model_id, owner in services.catalog.model_ids(project_of(request))
    ]
    return json_response({"object": "list", "data": data})


def setup(routes: Routes) -> None:
    routes.add_post("/v1/chat/completions", chat_completions)
    routes.add_get("/v1/models", list_models)
