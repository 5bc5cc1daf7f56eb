"""The Responses API conformance table: recorded traffic replayed through ``POST /v1/responses``.

Providers that speak the Responses API (OpenAI, Azure OpenAI) get the request passed through: a step
with ``request=None`` sends the recorded request itself, and the upstream must receive exactly what the
client sent (the instance prefix of the model aside); the client must get the recorded answer, every
field of it (every event of a stream). Answers recorded without their request (vercel-ai's fixtures
keep response bodies and decoded stream events only) come with the request a client sends for them.

Providers without it (Anthropic here) get the request translated to chat: the step gives the Responses
request whose translation is the recorded vendor request, and the client gets the translated answer.
``PREVIOUS_OUTPUT`` in a step's input stands for the output items the client received in the step
before, sent back as agents do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import orjson
from openai import BadRequestError

from tests.conformance import table
from tests.conformance.cases import Failure
from tests.recorded import RECORDED, Interaction, RecordedRequest, RecordedResponse, load_cassette, stream_interaction

Usage = tuple[int, int, int]  # input, output, cached input tokens


class _Marker(Enum):
    PREVIOUS_OUTPUT = "the output items the client received in the step before"


PREVIOUS_OUTPUT = _Marker.PREVIOUS_OUTPUT


@dataclass(frozen=True)
class Answer:
    text: str  # the answer's output_text
    usage: Usage
    calls: tuple[tuple[str, str, dict[str, Any]], ...] = ()  # (call_id, name, parsed arguments)
    status: str = "completed"


@dataclass(frozen=True)
class Step:
    outcome: Answer | Failure
    request: dict[str, Any] | None = None  # None: the recorded request ("model" without the instance prefix)
    # Translated steps: recorded request fields no Responses request can express.
    not_in_our_shape: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResponsesCase:
    id: str
    provider: str  # a key of REGISTRY
    source: str  # below tests/data/recorded
    steps: tuple[Step, ...]
    base_url: str | None = None  # the vendor's real base URL when the provider type has none
    # A raw stream recorded without its request: only the model of what the upstream got is compared.
    rerouted: bool = False
    status: int = 200  # of an answer kept as its body alone (a .json fixture)

    @property
    def path(self) -> Path:
        return RECORDED / self.source

    def streams(self) -> bool:
        """Whether an answer of the case is streamed."""
        if self.path.suffix == ".txt":
            return True
        asked = [step.request for step in self.steps if step.request is not None]
        if self.path.suffix == ".yaml":
            asked += [item.request.body for item in load_cassette(self.path) if isinstance(item.request.body, dict)]
        return any(request.get("stream") is True for request in asked)

    def interactions(self, uri: str) -> list[Interaction]:
        """The recorded answers for this case's steps, served on ``uri`` (the vendor's endpoint)."""
        if self.source.endswith(".chunks.txt"):
            return [_decoded_stream(self.path, uri)]
        if self.path.suffix == ".txt":
            return [stream_interaction(self.path, uri=uri)]
        if self.path.suffix == ".json":
            body = self.path.read_bytes()
            return [Interaction(RecordedRequest("POST", uri), RecordedResponse(self.status, body, _JSON))]
        # A cassette may go on with calls to other vendors (pydantic-ai's cross-provider tests).
        recorded = [item for item in load_cassette(self.path) if item.request.path.endswith(_path_of(uri))]
        return recorded[: len(self.steps)]


_JSON = {"content-type": "application/json"}


def _path_of(uri: str) -> str:
    return "/" + uri.split("://", 1)[-1].split("/", 1)[-1]


def _decoded_stream(path: Path, uri: str) -> Interaction:
    """vercel-ai keeps a stream as its decoded events, one JSON a line: framed again as OpenAI does."""
    frames = b""
    for line in path.read_bytes().splitlines():
        if line.strip():
            kind = orjson.loads(line)["type"].encode()
            frames += b"event: " + kind + b"\ndata: " + line + b"\n\n"
    response = RecordedResponse(200, frames, {"content-type": "text/event-stream; charset=utf-8"})
    return Interaction(RecordedRequest("POST", uri), response)


Case = ResponsesCase


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def function(name: str, description: str | None, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": description, "parameters": parameters, **extra}


# -- OpenAI: the recorded requests are Responses requests, passed through ------------------------------

OPENAI = (
    Case("openai-responses-instructions", "openai", "openai/test_openai_instructions_with_responses_logprobs.yaml", (
        Step(Answer("The capital of Minas Gerais is Belo Horizonte.", (25, 10, 0))),
    )),
    Case("openai-responses-stream", "openai",
                  "openai/test_openai_instructions_with_responses_logprobs_streaming.yaml", (
        Step(Answer("The capital of Minas Gerais is Belo Horizonte.", (25, 10, 0))),
    )),
    Case("openai-responses-structured-output", "openai",
                  "openai/test_openai_responses_native_output_decimal_strict.yaml", (
        Step(Answer('{"amount":12.34}', (72, 14, 0))),
    )),
    # A function call, then its result sent back with the reasoning and call items the client received
    # (pydantic-ai's cross-provider test: its last call, to Gemini, is not part of this case).
    Case("openai-responses-tool-round-trip", "openai", "openai/test_thinking_with_tool_calls_from_other_model.yaml", (
        Step(Answer("", (37, 272, 0), (("call_1w9YRdMtRTRucwZShoZYlLJp", "get_country", {}),))),
        Step(Answer("Mexico City (Ciudad de México).", (379, 77, 0))),
    )),
)

# -- Azure OpenAI's v1 Responses API ------------------------------------------------------------------

WEATHER = function("weather", None, {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"],
    "additionalProperties": False,
}, strict=True)
SAN_FRANCISCO = ("weather", {"location": "San Francisco"})

AZURE = (
    Case("azure-responses-text", "azure_openai",
                  "azure/test_azure_responses_reasoning_context_default_wire_contract.yaml", (
        Step(Answer("Paris", (18, 5, 0))),
    ), base_url="https://pydantic-ai-realtime-dev.openai.azure.com"),
    # The same through a service principal: Entra ID's documented token, then the token presented.
    Case("azure-entra-responses-text", "azure_openai_entra",
                  "azure/test_azure_responses_reasoning_context_default_wire_contract.yaml", (
        Step(Answer("Paris", (18, 5, 0))),
    ), base_url="https://pydantic-ai-realtime-dev.openai.azure.com"),
    # A hosted tool (web search) and a reasoning item: nothing the gateway translates, passed through.
    Case("azure-responses-hosted-tool", "azure_openai",
                  "crewai/TestAzureResponsesCall.test_call_with_tools_delegates.yaml", (
        Step(Answer("2 + 2 = 4.", (4312, 28, 0))),
    ), base_url="https://fake-azure-endpoint.openai.azure.com"),
    Case("azure-responses-function-call", "azure_openai", "vercel-ai/azure-tool-call.1.json", (
        Step(Answer("", (45, 24, 0), (("call_YunNGbIwdVJ2i0y0Mybva4Pw", *SAN_FRANCISCO),)), {
            "model": "gpt-5.1", "input": [user("What is the weather in San Francisco?")], "tools": [WEATHER],
        }),
    ), base_url="https://example-resource.openai.azure.com"),
    Case("azure-responses-stream-text", "azure_openai", "vercel-ai/azure-text.1.chunks.txt", (
        Step(Answer("Hello", (11, 11, 0)), {"model": "gpt-5.1", "input": "Say hello", "stream": True}),
    ), base_url="https://example-resource.openai.azure.com"),
    Case("azure-responses-stream-function-call", "azure_openai", "vercel-ai/azure-tool-call.1.chunks.txt", (
        Step(Answer("", (45, 24, 0), (("call_H5DxLSFnsGhiROnUiDHmgyc8", *SAN_FRANCISCO),)), {
            "model": "gpt-5.1", "input": [user("What is the weather in San Francisco?")], "tools": [WEATHER],
            "stream": True,
        }),
    ), base_url="https://example-resource.openai.azure.com"),
    # No Responses error was recorded; OpenAI answers every endpoint's errors in one envelope, and this
    # is one it sent (vercel-ai's chat fixture keeps the body; an invalid_request_error is a 400),
    # answered here for a Responses call.
    Case("azure-responses-error", "azure_openai", "vercel-ai/reasoning-model-legacy-parameter-error.json", (
        Step(Failure(BadRequestError, 400,
                     "Unsupported parameter: 'max_tokens' is not supported with this model. "
                     "Use 'max_completion_tokens' instead.",
                     "invalid_request_error", "unsupported_parameter", "max_tokens"),
             {"model": "o3-mini", "input": "hi", "max_tokens": 100}),
    ), base_url="https://example-resource.openai.azure.com", status=400),
)

# -- Anthropic: Responses requests whose chat translation is the recorded Messages request -------------

# The chat table's tools, in the Responses API's flat function shape.
COUNTRY_TOOLS = [{"type": "function", **tool["function"]} for tool in table.COUNTRY_TOOLS]
COUNTRY_RESULT = {"type": "function_call_output", "call_id": "toolu_01X9wcHKKAZD9tBC711xipPa", "output": "Mexico"}
LARGEST_CITY = user("What is the largest city in the user country?")

ANTHROPIC = (
    Case("anthropic-responses-translated-tool-round-trip", "anthropic",
                  "anthropic/test_anthropic_tool_output.yaml", (
        Step(Answer("", (445, 23, 0), (("toolu_01X9wcHKKAZD9tBC711xipPa", "get_user_country", {}),)), {
            "model": "claude-sonnet-4-5", "tools": COUNTRY_TOOLS, "tool_choice": "required",
            "input": [LARGEST_CITY],
        }),
        Step(Answer("", (497, 56, 0), (
            ("toolu_01LZABsgreMefH2Go8D5PQbW", "final_result", {"city": "Mexico City", "country": "Mexico"}),
        )), {
            "model": "claude-sonnet-4-5", "tools": COUNTRY_TOOLS, "tool_choice": "required",
            "input": [LARGEST_CITY, PREVIOUS_OUTPUT, COUNTRY_RESULT],
        }),
    )),
    # Anthropic's SDK recorded this stream without its request.
    Case("anthropic-responses-translated-stream-tool-use", "anthropic",
                  "anthropic/sdk_streams/tool_use_response.txt", (
        Step(Answer("I'll check the current weather in Paris for you.", (377, 65, 0),
                    (("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"}),)), {
            "model": "claude-sonnet-4-20250514", "input": "What is the weather in Paris?", "stream": True,
            "tools": [function("get_weather", "Weather for a place.", {
                "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"],
            })],
        }),
    ), rerouted=True),
)

RESPONSES_CASES: tuple[ResponsesCase, ...] = (*OPENAI, *AZURE, *ANTHROPIC)
