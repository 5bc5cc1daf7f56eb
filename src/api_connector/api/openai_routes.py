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
    """Every model the caller's project may use: its routes, then each instance's models as
    ``<instance>/<model>`` (the provider's live list when one is known, else the declared models)."""
    services = request.app[SERVICES]
    created = int(time.time())
    project_id = project_of(request)
    catalog, lists = services.catalog, services.model_lists
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "api-connector"}
        for name in catalog.routes(project_id)
    ]
    for instance in catalog.instances(project_id):
        models = lists.listing(instance).models if lists is not None else instance.models
        data.extend(
            {"id": f"{instance.name}/{model}", "object": "model", "created": created, "owned_by": instance.name}
            for model in models
        )
    return json_response({"object": "list", "data": data})


def setup(routes: Routes) -> None:
    routes.add_post("/v1/chat/completions", chat_completions)
    routes.add_get("/v1/models", list_models)
