"""``POST /v1/audio/speech`` (OpenAI's shape, audio streamed back) and ``GET /admin/providers/{name}/voices``.

A request without a model goes to ``DEFAULT_TTS_PROVIDER`` (an instance or a route name); when that
is unset, or names nothing this project can use, the request is refused with a 400 naming the setting
(nothing is checked at start-up: a service nobody asks for speech needs no default). The audio goes
out as the provider sends it, with the content type of the format asked for.

Voices: a provider's declared list (OpenAI, Deepgram), or its own listing fetched through the
pipeline as a generic request (credential, limits, breaker, usage record like any call) and read
into one shape.
"""

from __future__ import annotations

from typing import cast

from aiohttp import web

from api_connector.api import openapi_schemas as s
from api_connector.api.context import call_for, parse_model, read_json
from api_connector.api.middleware import Routes
from api_connector.api.openapi_answers import _CHAT_PARAMS, _V1, Answer
from api_connector.api.read_scope import read_scope
from api_connector.api.render import json_response
from api_connector.api.services import SERVICES, Services
from api_connector.api.streaming import write_raw
from api_connector.capabilities.requests import RAW, RawRequest
from api_connector.capabilities.speech import SPEECH, speech_route
from api_connector.core.call import Call
from api_connector.core.capabilities import Capability
from api_connector.core.speech import CONTENT_TYPES, SpeechRequest, Voice
from api_connector.errors import CapabilityUnsupported, NotFound, UpstreamProtocolError, ValidationFailed
from api_connector.wire.speech import SpeechWire

DEFAULT_SETTING = "DEFAULT_TTS_PROVIDER"


async def speech(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    body = await read_json(request)
    defaulted = not body.get("model")
    if defaulted:
        body["model"] = default_model(DEFAULT_SETTING, services.settings.default_tts_provider)
    asked = parse_model(SpeechRequest, body)
    call = call_for(request, Capability.SPEECH)
    if defaulted:
        check_default(services, call.project_id, asked.model, DEFAULT_SETTING, Capability.SPEECH)
    async with services.pipeline.run(call, SPEECH, asked) as run:
        headers = {"Content-Type": CONTENT_TYPES[asked.response_format], "x-request-id": call.request_id}
        return await write_raw(request, run, headers, status=200, cut=True)


def default_model(setting: str, value: str) -> str:
    """The model a request without one goes to: the operator's ``setting`` (DEFAULT_TTS_PROVIDER,
    DEFAULT_STT_PROVIDER), or a 400 naming it when unset."""
    name = value.strip()
    if not name:
        raise ValidationFailed(
            f"no model given, and {setting} is not set: name a model (a route, "
            "'<provider>/<model>' or a provider instance)",
            param="model",
        )
    return name


def check_default(services: Services, project_id: str, name: str, setting: str, capability: Capability) -> None:
    """A 400 naming ``setting`` when the default it gives is nothing this project can use."""
    try:
        speech_route(services.catalog, project_id, name, capability)
    except NotFound:
        raise ValidationFailed(
            f"no model given, and {setting} ({name!r}) names no provider instance or route this "
            "project can use: name a model, or set it to one",
            param="model",
        ) from None


async def list_voices(services: Services, call: Call, name: str) -> tuple[list[Voice], str]:
    """(the voices of provider instance ``name``, "declared" or "provider"); shared with the Connector."""
    instance = services.catalog.instance(call.project_id, name)
    endpoint = instance.spec.endpoints.get(Capability.SPEECH)
    if endpoint is None or endpoint.wire is None:
        raise CapabilityUnsupported(f"provider {name!r} does not offer speech", param="name")
    catalog = cast(SpeechWire, endpoint.wire).voices
    if catalog.path is None or catalog.decode is None:
        return list(catalog.fixed), "declared"
    listing = RawRequest(instance, "GET", catalog.path, {"accept": "application/json"}, None)
    async with services.pipeline.run(call._replace(dead_letter=False), RAW, listing) as run:
        assert run.result is not None
        answer = run.result
    try:
        return catalog.decode(answer.body), "provider"
    except ValueError:  # pydantic's ValidationError included; a 3xx lands here too
        raise UpstreamProtocolError(
            f"the provider's voice list is not one (HTTP {answer.status})", provider=instance.name
        ) from None


async def voices(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    project_id = read_scope(request).project()
    call = call_for(request, Capability.REQUESTS)._replace(project_id=project_id)
    name = request.match_info["name"]
    found, source = await list_voices(services, call, name)
    return json_response({"provider": name, "source": source, "data": [voice.as_json() for voice in found]})


def setup(routes: Routes) -> None:
    routes.add_post("/v1/audio/speech", speech)
    routes.add_get("/admin/providers/{name}/voices", voices)


# -- the OpenAPI document's entries (api.openapi) ------------------------------------------------------
OPERATIONS = (
    ("post", "/v1/audio/speech", "Speech from text (OpenAI-compatible; audio streamed)", "inference", SpeechRequest),
    ("get", "/admin/providers/{name}/voices", "The voices a provider instance offers", "admin", None),
)
VOICE = s.obj(
    {
        "id": s.STR,
        "name": s.STR,
        "languages": s.arr(s.STR),
        "gender": s.nullable(s.STR),
        "description": s.nullable(s.STR),
    }
)
ANSWERS: dict[tuple[str, str], Answer] = {
    ("post", "/v1/audio/speech"): Answer(None, _V1, _CHAT_PARAMS, media=tuple(sorted(set(CONTENT_TYPES.values())))),
    ("get", "/admin/providers/{name}/voices"): Answer(
        s.obj({"provider": s.STR, "source": s.enum("declared", "provider"), "data": s.arr(VOICE)}),
        (400, 404, 429, 502, 504),
    ),
}
