"""AWS Bedrock conformance cases: Converse and ConverseStream recordings (pydantic-ai, crewAI), vercel-ai's
recorded answers and decoded stream events, and documented error shapes (``tests/data/documented/bedrock``).

Each step gives the OpenAI request whose translation is the recorded Converse request (the recording's
empty ``system`` and ``inferenceConfig`` and its tool results' ``"status": "success"`` are defaults, left
out when compared). Bedrock names no answer id and no model: the client gets the gateway's own id and the
model it asked for. Streams are AWS's binary event stream: recorded ones are replayed as recorded;
vercel-ai's decoded events (``.chunks.txt``, one ``{"<event type>": payload}`` a line) are framed again
with the gateway's own encoder, and read back by botocore's parser for the oracle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from openai import AuthenticationError, BadRequestError, PermissionDeniedError, RateLimitError

from api_connector.wire.aws_eventstream import encode_event, encode_exception
from tests.conformance.cases import (
    PREVIOUS_REPLY,
    RECORDED,
    Answer,
    BrokenStream,
    Call,
    Case,
    Failure,
    Step,
    function,
    system,
    tool_result,
    user,
)
from tests.recorded import RECORDED as RECORDED_DIR
from tests.recorded import RecordedResponse, load_cassette

PYDANTIC = "bedrock/pydantic-ai"
CREWAI = "bedrock/crewai"
VERCEL = "vercel-ai/amazon-bedrock"
NOVA_MICRO = "us.amazon.nova-micro-v1:0"
SONNET_4_5 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
SONNET_4_6 = "us.anthropic.claude-sonnet-4-6"
CAPITAL = user("What is the capital of France?")
CHATBOT = system("You are a helpful chatbot.")


def event_stream(path: Path) -> RecordedResponse:
    """Decoded events, one ``{"<type>": payload}`` a line, framed as AWS sends them (exceptions too)."""
    frames = []
    for line in path.read_text("utf-8").splitlines():
        ((kind, payload),) = orjson.loads(line).items()
        encode = encode_exception if kind.endswith("Exception") else encode_event
        frames.append(encode(kind, orjson.dumps(payload)))
    return RecordedResponse(200, b"".join(frames), {"content-type": "application/vnd.amazon.eventstream"})


def converse_answer(path: Path) -> RecordedResponse:
    """A Converse answer kept without its request."""
    return RecordedResponse(200, path.read_bytes(), {"content-type": "application/json"})


def _recorded_body(source: str, index: int) -> dict[str, Any]:
    body: dict[str, Any] = load_cassette(RECORDED_DIR / source)[index].request.body
    return body


def _crewai_final_step() -> dict[str, Any]:
    """crewAI's last call: its long system prompt and structured-output tool, read from the recording."""
    recorded = _recorded_body(f"{CREWAI}/test_bedrock_agent_kickoff_structured_output_with_tools.yaml", 2)
    spec = recorded["toolConfig"]["tools"][0]["toolSpec"]
    return {
        "model": SONNET_4_6,
        "messages": [system(recorded["system"][0]["text"]), user(recorded["messages"][0]["content"][0]["text"])],
        "tools": [function(spec["name"], spec["description"], spec["inputSchema"]["json"])],
        "tool_choice": {"type": "function", "function": {"name": "structured_output"}},
    }


CALCULATOR_SYSTEM = system(
    "You are Calculator. You are a calculator assistant that uses tools to compute results.\n"
    "Your personal goal is: Perform calculations using available tools"
)
CALCULATOR_TASK = user("\nCurrent Task: Calculate 15 + 27 using your add_numbers tool. Report the result.")
ADD_NUMBERS = function("add_numbers", "Add two numbers together and return the sum.", {
    "properties": {"a": {"title": "A", "type": "integer"}, "b": {"title": "B", "type": "integer"}},
    "required": ["a", "b"], "type": "object", "additionalProperties": False,
})
ADD_CALL = "tooluse_CVmuFOrTItCY07vxuA84mU"
ADD_EXPLANATION = ("The result of **15 + 27 = 42**! 🧮\n\nUsing the `add_numbers` tool, I computed the sum of 15 and "
                   "27, and the result is **42**.")
ADDITION = {"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "messages": [user("What is 10 + 11?")]}
STRICT_WEATHER = {"type": "function", "function": {"name": "get_weather", "strict": True, "parameters": {
    "additionalProperties": False, "properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object",
}}}
WEATHER_CALL = "tooluse_8ZVLMmsdearTDSS0unN07z"
CAPITAL_TOOLS = [
    function("get_capital", "Get the capital of a country.", {
        "properties": {"country": {"description": "The country name.", "title": "Country", "type": "string"}},
        "required": ["country"], "type": "object", "additionalProperties": False,
    }),
    function("get_temperature", "Get the temperature in a city.", {
        "properties": {"city": {"description": "The city name.", "title": "City", "type": "string"}},
        "required": ["city"], "type": "object", "additionalProperties": False,
    }),
]
TEMPERATURE_CALL = "tooluse_lAG_zP8QRHmSYOwZzzaCqA"
CITY_INFO = {
    "type": "json_schema",
    "json_schema": {
        "name": "CityInfo", "description": "Information about a city.",
        "schema": {
            "additionalProperties": False,
            "properties": {
                "city": {"type": "string"}, "country": {"type": "string"}, "population": {"type": "integer"},
            },
            "required": ["city", "country", "population"], "type": "object",
        },
    },
}
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/mi1dadi0g15f"
TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
THINKING = ("additionalModelRequestFields",)  # Anthropic's thinking switch: no OpenAI field says it

BEDROCK_RECORDED = (
    Case("bedrock-text-with-system", "bedrock", f"{PYDANTIC}/test_bedrock_model.yaml", (
        Step(Answer(RECORDED, "stop", (7, 30, 37, 0)), {
            "model": NOVA_MICRO, "messages": [system("You are a chatbot."), user("Hello!")],
        }),
    )),
    Case("bedrock-max-tokens", "bedrock", f"{PYDANTIC}/test_bedrock_model_max_tokens.yaml", (
        Step(Answer("The capital of France is", "length", (13, 5, 18, 0)), {
            "model": NOVA_MICRO, "messages": [CHATBOT, CAPITAL], "max_tokens": 5,
        }),
    )),
    Case("bedrock-top-p", "bedrock", f"{PYDANTIC}/test_bedrock_model_top_p.yaml", (
        Step(Answer(RECORDED, "stop", (13, 41, 54, 0)), {
            "model": NOVA_MICRO, "messages": [CHATBOT, CAPITAL], "top_p": 0.5,
        }),
    )),
    Case("bedrock-max-tokens-and-temperature", "bedrock", f"{CREWAI}/test_bedrock_async_with_parameters.yaml", (
        Step(Answer(RECORDED, "stop", (12, 47, 59, 0)), {
            "model": SONNET_4_6, "messages": [user("Tell me a short fact")], "max_tokens": 100, "temperature": 0.7,
        }),
    )),
    Case("bedrock-conversation", "bedrock", f"{CREWAI}/test_bedrock_async_conversation.yaml", (
        Step(Answer(RECORDED, "stop", (31, 19, 50, 0)), {
            "model": SONNET_4_6, "messages": [
                user("My name is Alice."), {"role": "assistant", "content": "Hello Alice! Nice to meet you."},
                user("What is my name?"),
            ],
        }),
    )),
    # An inference profile's ARN holds ":" and "/": one path segment, percent-encoded.
    Case("bedrock-inference-profile-arn", "bedrock", f"{PYDANTIC}/test_bedrock_inference_profile_converse.yaml", (
        Step(Answer("Hello", "stop", (8, 2, 10, 0)), {
            "model": PROFILE_ARN, "messages": [user('Say "hello" and nothing else.')],
        }),
    )),
    Case("bedrock-text-document", "bedrock", f"{PYDANTIC}/test_text_as_binary_content_input.yaml", (
        Step(Answer(RECORDED, "stop", (21, 175, 196, 0)), {
            "model": "us.amazon.nova-pro-v1:0", "messages": [CHATBOT, user([
                {"type": "text", "text": "What is the main content on this document?"},
                {"type": "file", "file": {"filename": "Document 1",
                                          "file_data": "data:text/plain;base64,VGhpcyBpcyBhIHRlc3QgZG9jdW1lbnQu"}},
            ])],
        }),
    )),
    # Reasoning blocks are not part of the OpenAI answer. (The second call sends them back: not replayed.)
    Case("bedrock-reasoning-left-out", "bedrock", f"{PYDANTIC}/test_bedrock_model_thinking_part_anthropic.yaml", (
        Step(Answer(RECORDED, "stop", (42, 313, 355, 0)), {
            "model": "us.anthropic.claude-sonnet-4-20250514-v1:0", "messages": [user("How do I cross the street?")],
        }, not_in_openai_shape=THINKING),
    )),
    # Cache writes and reads count as prompt tokens, the reads as cached ones (OpenAI's meaning). The
    # recorded request marks cache points, which no OpenAI request can: only the answers are replayed.
    Case("bedrock-prompt-cache-usage", "bedrock", f"{PYDANTIC}/test_bedrock_cache_write_and_read.yaml", (
        Step(Answer("21", "stop", (1324, 5, 1329, 0)), ADDITION),
        Step(Answer("21", "stop", (1324, 5, 1329, 1322)), ADDITION),
    ), rerouted=True),
    Case("bedrock-strict-tool-then-result", "bedrock",
         f"{PYDANTIC}/test_bedrock_strict_tool_supported_model.yaml", (
        Step(Answer("", "tool_calls", (560, 53, 613, 0), (Call(WEATHER_CALL, "get_weather", {"city": "Paris"}),)), {
            "model": SONNET_4_5, "messages": [user("What's the weather in Paris?")], "tools": [STRICT_WEATHER],
            "tool_choice": "auto",
        }),
        Step(Answer(RECORDED, "stop", (637, 31, 668, 0)), {
            "model": SONNET_4_5, "tools": [STRICT_WEATHER], "tool_choice": "auto", "messages": [
                user("What's the weather in Paris?"), PREVIOUS_REPLY,
                tool_result(WEATHER_CALL, "Weather in Paris: Sunny, 22°C"),
            ],
        }),
    )),
    # Stop sequences; text beside a tool call; a tool result; then a named tool choice.
    Case("bedrock-tools-stop-sequences-named-choice", "bedrock",
         f"{CREWAI}/test_bedrock_agent_kickoff_structured_output_with_tools.yaml", (
        Step(Answer("I'll calculate 15 + 27 right away using the `add_numbers` tool!", "tool_calls",
                    (645, 92, 737, 0), (Call(ADD_CALL, "add_numbers", {"a": 15, "b": 27}),)), {
            "model": SONNET_4_6, "messages": [CALCULATOR_SYSTEM, CALCULATOR_TASK], "tools": [ADD_NUMBERS],
            "stop": ["\nObservation:"],
        }),
        Step(Answer(RECORDED, "stop", (729, 51, 780, 0)), {
            "model": SONNET_4_6, "tools": [ADD_NUMBERS], "stop": ["\nObservation:"], "messages": [
                CALCULATOR_SYSTEM, CALCULATOR_TASK,
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": ADD_CALL, "type": "function",
                    "function": {"name": "add_numbers", "arguments": '{"a": 15, "b": 27}'},
                }]},
                tool_result(ADD_CALL, "42"),
            ],
        }),
        Step(Answer("", "tool_calls", (1150, 116, 1266, 0), (Call("tooluse_5OzuYfgauW1f24uhsvXWDo",
             "structured_output", {"operation": "add_numbers", "result": 42, "explanation": ADD_EXPLANATION}),)),
             _crewai_final_step()),
    )),
    Case("bedrock-error-invalid-model", "bedrock", f"{PYDANTIC}/test_bedrock_error.yaml", (
        Step(Failure(BadRequestError, 400, "The provided model identifier is invalid."), {
            "model": "us.does-not-exist-model-v1:0", "messages": [user("hello")],
        }),
    )),
    Case("bedrock-stream-error-invalid-model", "bedrock", f"{PYDANTIC}/test_bedrock_streaming_error.yaml", (
        Step(Failure(BadRequestError, 400, "The provided model identifier is invalid."), {
            "model": "us.does-not-exist-model-v1:0", "messages": [user("hello")], "stream": True,
        }),
    )),
    Case("bedrock-stream-text", "bedrock", f"{PYDANTIC}/test_bedrock_model_stream.yaml", (
        Step(Answer(RECORDED, "stop", (13, 82, 95, 0)), {
            "model": NOVA_MICRO, "messages": [CHATBOT, CAPITAL], "temperature": 0, "stream": True,
        }),
    )),
    Case("bedrock-stream-tool-call-then-text", "bedrock", f"{PYDANTIC}/test_bedrock_model_iter_stream.yaml", (
        Step(Answer(RECORDED, "tool_calls", (471, 91, 562, 0),
                    (Call(TEMPERATURE_CALL, "get_temperature", {"city": "Paris"}),)), {
            "model": NOVA_MICRO, "tools": CAPITAL_TOOLS, "top_p": 0.5, "stream": True,
            "messages": [CHATBOT, user("What is the temperature of the capital of France?")],
        }),
        Step(Answer("The current temperature in Paris, the capital of France, is 30°C.", "stop", (577, 18, 595, 0)), {
            "model": NOVA_MICRO, "tools": CAPITAL_TOOLS, "top_p": 0.5, "stream": True, "messages": [
                CHATBOT, user("What is the temperature of the capital of France?"), PREVIOUS_REPLY,
                tool_result(TEMPERATURE_CALL, "30°C"),
            ],
        }),
    )),
    Case("bedrock-stream-empty-text-delta", "bedrock", f"{PYDANTIC}/test_bedrock_model_stream_empty_text_delta.yaml", (
        Step(Answer("Hello! How can I help you today?", "stop", (70, 43, 113, 0)), {
            "model": "openai.gpt-oss-120b-1:0", "messages": [user("Hi")], "stream": True,
        }),
    )),
    Case("bedrock-stream-reasoning-left-out", "bedrock", f"{PYDANTIC}/test_bedrock_model_thinking_part_stream.yaml", (
        Step(Answer(RECORDED, "stop", (36, 73, 109, 0)), {
            "model": "us.anthropic.claude-sonnet-4-20250514-v1:0", "messages": [user("Hello")], "stream": True,
        }, not_in_openai_shape=THINKING),
    )),
    Case("bedrock-stream-redacted-reasoning", "bedrock",
         f"{PYDANTIC}/test_bedrock_model_thinking_part_redacted_stream.yaml", (
        Step(Answer(RECORDED, "stop", (92, 253, 345, 0)), {
            "model": "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "stream": True, "messages": [user(
                "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253D5E2D8"
                "2641AC0E52CC2876CB"
            )],
        }, not_in_openai_shape=THINKING),
    )),
    Case("bedrock-stream-json-schema", "bedrock", f"{PYDANTIC}/test_bedrock_native_output_stream.yaml", (
        Step(Answer('{"city":"Paris","country":"France","population":2161000}', "stop", (210, 18, 228, 0)), {
            "model": SONNET_4_5, "stream": True, "response_format": CITY_INFO, "messages": [
                user("What is the capital of France? Give me the city name, country, and population."),
            ],
        }),
    )),
    # Nova's own code interpreter ran inside Bedrock (server_tool_use and its result): only the call the
    # client must carry out reaches it. The recorded request declares that system tool: answers only.
    Case("bedrock-stream-server-tool-left-out", "bedrock",
         f"{PYDANTIC}/test_bedrock_model_code_execution_tool_stream.yaml", (
        Step(Answer("", "tool_calls", (1002, 59, 1061, 0),
                    (Call("tooluse_ptgCcZ0uQu-UUMz0abqoWw", "final_result", {"result": 7006652.0}),)), {
            "model": "us.amazon.nova-2-lite-v1:0", "messages": [user("What is 1234 * 5678?")], "stream": True,
        }),
    ), rerouted=True),
)

# vercel-ai's recorded answers, kept without their requests: Converse JSON, and decoded ConverseStream events.


def _vercel(name: str, answer: Answer, **request: Any) -> Case:
    streamed = name.endswith(".chunks.txt")
    body = {"model": "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "messages": [user("Hello")], **request}
    if streamed:
        body["stream"] = True
    case_id = "bedrock-vercel-" + name.removeprefix("amazon-bedrock-").replace(".chunks.txt", "-stream")
    return Case(case_id.removesuffix(".json").replace(".1", ""), "bedrock", f"{VERCEL}/{name}", (Step(answer, body),),
                rerouted=True, answer=event_stream if streamed else converse_answer)


ISSUE_TOOL = function("updateIssueList", "", {"type": "object", "properties": {}})
NO_ARGS_ANSWER = Answer("I'll update the issue list for you.", "tool_calls", (100, 25, 125, 0),
                        (Call("tool-use-id", "updateIssueList", "{}"),))
BEDROCK_VERCEL = (
    _vercel("amazon-bedrock-text.json", Answer(RECORDED, "stop", (22, 57, 79, 0))),
    # Usage after the stop event, and the stop event carrying the model's own response fields.
    _vercel("amazon-bedrock-text.chunks.txt", Answer(RECORDED, "stop", (22, 55, 77, 0))),
    _vercel("amazon-bedrock-tool-call.1.json", Answer("", "tool_calls", (10, 20, 30, 0), (
        Call("tool-use-id", "bash", {"command": "ls -l"}),
    ))),
    # No messageStart, and the usage before the stop event.
    _vercel("amazon-bedrock-tool-call.1.chunks.txt", Answer("", "tool_calls", (125, 45, 170, 0), (
        Call("tool-use-id", "test-tool", {"value": "Sparkle Day"}),
    ))),
    _vercel("amazon-bedrock-tool-no-args.json", NO_ARGS_ANSWER, tools=[ISSUE_TOOL]),
    # A call streamed without arguments gets "{}", as the JSON answer has it.
    _vercel("amazon-bedrock-tool-no-args.chunks.txt", NO_ARGS_ANSWER, tools=[ISSUE_TOOL]),
    _vercel("amazon-bedrock-reasoning.json", Answer(RECORDED, "stop", (51, 78, 129, 0))),
    _vercel("amazon-bedrock-reasoning.chunks.txt", Answer(RECORDED, "stop", (51, 94, 145, 0))),
)

# Documented shapes (tests/data/documented/bedrock): an image, errors named in x-amzn-ErrorType, and
# exceptions inside a stream.

BEDROCK_DOCUMENTED = (
    Case("bedrock-image-data-url", "bedrock", "documented/bedrock/image.yaml", (
        Step(Answer("The image is a single white pixel.", "stop", (1290, 9, 1299, 0)), {
            "model": "us.amazon.nova-lite-v1:0", "max_tokens": 50, "messages": [user([
                {"type": "text", "text": "What colour is this image?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{TINY_PNG}"}},
            ])],
        }),
    )),
    Case("bedrock-error-access-denied", "bedrock", "documented/bedrock/access-denied.yaml", (
        Step(Failure(PermissionDeniedError, 403, "You don't have access to the model with the specified model ID.",
                     "AccessDeniedException"), {
            "model": "anthropic.claude-3-opus-20240229-v1:0", "messages": [user("hello")],
        }),
    )),
    # A 403 that says the signature (the credential) was refused is an authentication failure.
    Case("bedrock-error-invalid-signature", "bedrock", "documented/bedrock/invalid-signature.yaml", (
        Step(Failure(AuthenticationError, 401,
                     "The request signature we calculated does not match the signature you provided. Check your AWS "
                     "Secret Access Key and signing method. Consult the service documentation for details.",
                     "InvalidSignatureException"), {"model": NOVA_MICRO, "messages": [user("hello")]}),
    )),
    # A 429 is retried once by default, then reaches the caller as a 429.
    Case("bedrock-error-throttled", "bedrock", "documented/bedrock/throttled.yaml", (
        Step(Failure(RateLimitError, 429, "Too many requests, please wait before trying again.",
                     "ThrottlingException"), {"model": NOVA_MICRO, "messages": [user("hello")]}, upstream_calls=2),
    )),
    Case("bedrock-stream-throttled-midway", "bedrock", "documented/bedrock/stream-throttled.chunks.txt", (
        Step(BrokenStream("Too many tokens, please wait before trying again."), {
            "model": NOVA_MICRO, "messages": [user("Hello")], "stream": True,
        }),
    ), rerouted=True, answer=event_stream),
    # An exception before any data is the call's failure, with the status Bedrock documents for it (400).
    Case("bedrock-stream-input-too-long", "bedrock", "documented/bedrock/stream-input-too-long.chunks.txt", (
        Step(Failure(BadRequestError, 400, "Input is too long for requested model.", "ValidationException"), {
            "model": NOVA_MICRO, "messages": [user("Hello")], "stream": True,
        }),
    ), rerouted=True, answer=event_stream),
)

BEDROCK = (*BEDROCK_RECORDED, *BEDROCK_VERCEL, *BEDROCK_DOCUMENTED)
