"""Conformance cases of the chat providers with wires or dialects of their own: Cohere (chat v2), Mistral
(OpenAI's shape in a declared dialect), Hugging Face's router and TGI (OpenAI-shaped), Replicate
(predictions: several upstream requests per call). ``table.CASES`` includes them; see ``cases``."""

from __future__ import annotations

from typing import Any

from openai import AuthenticationError, BadRequestError, RateLimitError

from tests.conformance.cases import RECORDED, Answer, Call, Case, Failure, Step, function, system, user
from tests.recorded import load_cassette

# -- Cohere chat v2: OpenAI requests whose translation is the recorded /v2/chat request ------------------


def asked(source: str, index: int = 0) -> dict[str, Any]:
    """A recorded request that is, as JSON, also the OpenAI request whose translation it is."""
    body: dict[str, Any] = load_cassette(source)[index].request.body
    return dict(body)


PICKLE = "I'm Pickle Rick"
PERSON = "The person's name is John, and he is 30 years old"
PERSON_SCHEMA = asked("cohere/test_cohere_with_structured_output_json_schema.yaml")["response_format"]["schema"]
MAGIC_TOOLS = asked("cohere/test_langchain_tool_calling_agent.yaml")["tools"]
MAGIC_PLAN = "I will use the magic_function tool to find the value of magic_function(3)."
MAGIC_ASK = [system("You are a helpful assistant"), user("what is the value of magic_function(3)?")]
SF_TOOLS = [
    function("weather", "Get the weather in a location", {
        "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"],
    }),
    function("cityAttractions", "Get the attractions of a city", {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
    }),
]
TIME_TOOL = [function("currentTime", "The current time", {"type": "object", "properties": {}})]
SEARCH_TOOL = function("webSearchTool", "Search the web",
                       {"type": "object", "properties": {"query": {"type": "string"}}})


def _vercel(name: str, provider: str, model: str, answer: Answer, **request: object) -> Case:
    """vercel-ai's answers, kept without their request: served for an OpenAI request of ours."""
    body = {"model": model, "messages": [user("What is the capital of France?")], **request}
    stem = name.removeprefix(provider + "-").replace(".chunks.txt", "-stream").replace(".json", "")
    case_id = f"{provider}-vercel-{stem}"
    return Case(case_id, provider, f"vercel-ai/{name}", (Step(answer, body),), rerouted=True)


COHERE = (
    Case("cohere-text", "cohere", "cohere/test_invoke.yaml", (
        Step(Answer(RECORDED, "stop", (4, 28, 32, 0)), asked("cohere/test_invoke.yaml")),
    )),
    Case("cohere-system-message", "cohere", "cohere/pydantic-ai/test_cohere_model_instructions.yaml", (
        Step(Answer(RECORDED, "stop", (13, 61, 74, 0)),
             asked("cohere/pydantic-ai/test_cohere_model_instructions.yaml")),
    )),
    # Usage is what Cohere bills (billed_units), not its internal token count, which includes a
    # preamble of its own and the cache share of it (tokens.input 2935, cached 2928 here).
    Case("cohere-billed-units", "cohere", "cohere/pydantic-ai/test_request_usage_with_cached_tokens.yaml", (
        Step(Answer("Hello!", "stop", (2406, 2, 2408, 0)),
             asked("cohere/pydantic-ai/test_request_usage_with_cached_tokens.yaml")),
    )),
    Case("cohere-text-parts", "cohere", "cohere/test_invoke_with_text_only_list.yaml", (
        Step(Answer(RECORDED, "stop", (8, 35, 43, 0)), asked("cohere/test_invoke_with_text_only_list.yaml")),
    )),
    Case("cohere-stream", "cohere", "cohere/test_stream.yaml", (
        Step(Answer(RECORDED, "stop", (4, 69, 73, 0)),
             {"model": "command-r", "messages": [user(PICKLE)], "stream": True}),
    )),
    # Cohere's tool_plan is the assistant's text beside its tool calls.
    Case("cohere-tool-call", "cohere", "cohere/test_invoke_tool_calls.yaml", (
        Step(Answer(RECORDED, "tool_calls", (23, 41, 64, 0),
                    (Call("Person_zh3gneaxfh7q", "Person", {"age": 27, "name": "Erick"}),)),
             asked("cohere/test_invoke_tool_calls.yaml")),
    )),
    Case("cohere-stream-tool-call", "cohere", "cohere/test_streaming_tool_call.yaml", (
        Step(Answer(RECORDED, "tool_calls", (23, 41, 64, 0),
                    (Call("Person_2fnrphbsnr66", "Person", {"name": "Erick", "age": 27}),)),
             asked("cohere/test_streaming_tool_call.yaml")),
    )),
    # A tool conversation: the assistant's text beside its calls goes back as tool_plan, and the tool
    # result is given as Cohere's own document part.
    Case("cohere-tool-round-trip", "cohere", "cohere/test_langchain_tool_calling_agent.yaml", (
        Step(Answer(MAGIC_PLAN, "tool_calls", (60, 27, 87, 0),
                    (Call("magic_function_avre629p2czn", "magic_function", {"input": 3}),)),
             {"model": "command-a-03-2025", "messages": MAGIC_ASK, "tools": MAGIC_TOOLS}),
        Step(Answer("The value of magic_function(3) is 5.", "stop", (83, 13, 96, 0)), {
            "model": "command-a-03-2025", "tools": MAGIC_TOOLS, "messages": [
                *MAGIC_ASK,
                {"role": "assistant", "content": MAGIC_PLAN, "tool_calls": [{
                    "id": "magic_function_avre629p2czn", "type": "function",
                    "function": {"name": "magic_function", "arguments": '{"input": 3}'},
                }]},
                {"role": "tool", "tool_call_id": "magic_function_avre629p2czn",
                 "content": [{"type": "document", "document": {"data": {"output": "5"}}}]},
            ],
        }),
    )),
    # Thinking is left out; the call stands alone.
    Case("cohere-thinking-then-tool-call", "cohere", "cohere/test_command_a_reasoning_with_tool_call.yaml", (
        Step(Answer("", "tool_calls", (80, 301, 381, 0),
                    (Call("get_the_weather_r8d0r2e0kw9s", "get_the_weather", {"location": "Osaka"}),)),
             asked("cohere/test_command_a_reasoning_with_tool_call.yaml")),
    )),
    # Cohere-only fields (documents) pass through.
    Case("cohere-documents", "cohere", "cohere/test_documents.yaml", (
        Step(Answer("The sky is green.", "stop", (13, 5, 18, 0)), asked("cohere/test_documents.yaml")),
    )),
    Case("cohere-json-object", "cohere", "cohere/test_cohere_with_structured_output_json_mode.yaml", (
        Step(Answer(RECORDED, "stop", (15, 17, 32, 0)), {
            "model": "command-r", "messages": [user(PERSON)], "response_format": {"type": "json_object"},
        }),
    )),
    Case("cohere-json-schema", "cohere", "cohere/test_cohere_with_structured_output_json_schema.yaml", (
        Step(Answer(RECORDED, "stop", (15, 17, 32, 0)), {
            "model": "command-r", "messages": [user(PERSON)],
            "response_format": {"type": "json_schema", "json_schema": {"name": "Person", "schema": PERSON_SCHEMA}},
        }),
    )),
    # Recorded gzip-encoded, as Cohere sent them.
    Case("cohere-vision-url", "cohere", "cohere/test_invoke_with_vision_url.yaml", (
        Step(Answer(RECORDED, "stop", (265, 113, 378, 0)), asked("cohere/test_invoke_with_vision_url.yaml")),
    )),
    Case("cohere-vision-base64-detail", "cohere", "cohere/test_invoke_with_vision_base64.yaml", (
        Step(Answer(RECORDED, "stop", (262, 59, 321, 0)), asked("cohere/test_invoke_with_vision_base64.yaml")),
    )),
    Case("cohere-stream-vision", "cohere", "cohere/test_astream_with_vision.yaml", (
        Step(Answer(RECORDED, "stop", (265, 141, 406, 0)), asked("cohere/test_astream_with_vision.yaml")),
    )),
    # Documented error bodies ({"message": ...}); a 429 is retried once, then reaches the caller.
    Case("cohere-error-invalid-request", "cohere", "documented/cohere/chat_invalid_request.yaml", (
        Step(Failure(BadRequestError, 400,
                     "invalid request: message must be at least 1 token long or tool results must be specified."),
             {"model": "command-a-03-2025", "messages": [user("")]}),
    )),
    Case("cohere-error-rate-limited", "cohere", "documented/cohere/chat_rate_limited.yaml", (
        Step(Failure(RateLimitError, 429,
                     "You are past the per minute request limit, please wait and try again later."),
             {"model": "command-a-03-2025", "messages": [user("Hello")]}, upstream_calls=2),
    )),
    Case("cohere-error-too-many-tokens", "cohere", "documented/cohere/chat_too_many_tokens.yaml", (
        Step(Failure(BadRequestError, 400, "too many tokens: max tokens must be less than or equal to 4096, the "
                     "maximum output for this model - received 8192."),
             {"model": "command-r7b-12-2024", "messages": [user("Hello")], "max_tokens": 8192}),
    )),
    _vercel("cohere-text.chunks.txt", "cohere", "command-a-03-2025", Answer(
        "The capital of France is Paris.", "stop", (12, 7, 19, 0)), stream=True),
    _vercel("cohere-tool-call.json", "cohere", "command-a-03-2025", Answer(RECORDED, "tool_calls", (119, 52, 171, 0), (
        Call("weather_dqgshstja6p9", "weather", {"location": "San Francisco"}),
        Call("cityAttractions_dcxfx4myvx68", "cityAttractions", {"city": "San Francisco"}),
    )), tools=SF_TOOLS),
    _vercel("cohere-tool-call.chunks.txt", "cohere", "command-a-03-2025", Answer(
        RECORDED, "tool_calls", (119, 44, 163, 0), (
        Call("weather_e8p4pn45zt0t", "weather", {"location": "San Francisco"}),
        Call("cityAttractions_pyxssbwnq9fq", "cityAttractions", {"city": "San Francisco"}),
    )), tools=SF_TOOLS, stream=True),
    # A call without arguments ("null", or none streamed) gets an empty object.
    _vercel("cohere-null-args.json", "cohere", "command-a-03-2025", Answer(RECORDED, "tool_calls", (46, 14, 60, 0), (
        Call("currentTime_tf4dywn8wgnk", "currentTime", "{}"),
    )), tools=TIME_TOOL),
    _vercel("cohere-empty-tool-call.chunks.txt", "cohere", "command-a-03-2025", Answer(
        RECORDED, "tool_calls", (46, 14, 60, 0), (Call("currentTime_y46ar19t5gvw", "currentTime", "{}"),),
    ), tools=TIME_TOOL, stream=True),
    _vercel("cohere-max-tokens.json", "cohere", "command-a-03-2025",
            Answer("**The History of", "length", (11, 4, 15, 0)), max_tokens=4),
    _vercel("cohere-reasoning.chunks.txt", "cohere", "command-a-reasoning-08-2025",
            Answer(RECORDED, "stop", (8, 50, 58, 0)), stream=True),
)

# -- Mistral: OpenAI requests in Mistral's dialect (providers/mistral.py) --------------------------------

STREET_QUESTION = user("How do I cross the street?")

MISTRAL = (
    Case("mistral-penalties", "mistral", "mistral/test_mistral_forwards_penalties.yaml", (
        Step(Answer(RECORDED, "stop", (4, 36, 40, 0))),
    )),
    # An assistant turn given as text parts, with Mistral's own prefix field, and cached prompt tokens.
    Case("mistral-history-prompt-cache", "mistral", "mistral/test_mistral_history_uses_prompt_cache.yaml", (
        Step(Answer("cache probe one.", "stop", (253, 5, 258, 0))),
        Step(Answer("cache probe two.", "stop", (268, 5, 273, 224))),
    )),
    Case("mistral-text-parts", "mistral", "mistral/test_text_document_as_binary_content_input.yaml", (
        Step(Answer(RECORDED, "stop", (49, 69, 118, 0))),
    )),
    # Thinking parts of the content are left out; no stream_options is sent (Mistral refuses it) and the
    # usage Mistral puts on the finish chunk comes in a chunk of its own.
    Case("mistral-stream-thinking", "mistral", "mistral/test_mistral_model_thinking_part_iter.yaml", (
        Step(Answer(RECORDED, "stop", (10, 232, 242, 0)),
             {"model": "magistral-medium-latest", "messages": [STREET_QUESTION], "stream": True}),
    )),
    Case("mistral-error-invalid-model", "mistral", "documented/mistral/chat_invalid_model.yaml", (
        Step(Failure(BadRequestError, 400, "Invalid model: mistral-does-not-exist", "invalid_model", "1500")),
    )),
    Case("mistral-error-extra-field", "mistral", "documented/mistral/chat_extra_forbidden.yaml", (
        Step(Failure(BadRequestError, 400, "top_k: Extra inputs are not permitted", "invalid_request_error",
                     None, "top_k")),
    )),
    _vercel("mistral-text.chunks.txt", "mistral", "mistral-small-latest", Answer(RECORDED, "stop", (13, 8, 21, 0)),
            stream=True),
    # Tool calls without "type" (and streamed without "index") are given both.
    _vercel("mistral-tool-call.json", "mistral", "mistral-small-latest", Answer("", "tool_calls", (124, 22, 146, 0), (
        Call("gSIMJiOkT", "weather", {"location": "San Francisco"}),
    )), tools=SF_TOOLS[:1]),
    _vercel("mistral-tool-call.chunks.txt", "mistral", "mistral-small-latest", Answer(
        "", "tool_calls", (124, 22, 146, 0), (Call("gSIMJiOkT", "weather", {"location": "San Francisco"}),),
    ), tools=SF_TOOLS[:1], stream=True),
    _vercel("mistral-incremental-tool-call.chunks.txt", "mistral", "zai-glm-5-2", Answer(
        "", "tool_calls", (171, 14, 185, 128),
        (Call("chatcmpl-tool-9f149c74c42f265b", "webSearchTool", {"query": "current Berlin weather"}),),
    ), tools=[SEARCH_TOOL], stream=True),
    _vercel("mistral-reasoning.json", "mistral", "magistral-medium-2507", Answer("2 + 2 = 4", "stop", (10, 46, 56, 0))),
)

# -- Hugging Face: the Inference Providers router (OpenAI-shaped), pinned to a provider by base URL ------

HUGGINGFACE = (
    Case("huggingface-text-with-system", "huggingface", "huggingface/test_hf_model_instructions.yaml", (
        Step(Answer(RECORDED, "stop", (16, 216, 232, 0))),
    ), base_url="https://router.huggingface.co/together/v1"),
    Case("huggingface-image-url", "huggingface", "huggingface/test_image_url_input.yaml", (
        Step(Answer(RECORDED, "stop", (269, 27, 296, 0))),
    ), base_url="https://router.huggingface.co/nebius/v1"),
    Case("huggingface-length", "huggingface", "huggingface/test_max_completion_tokens.yaml", (
        Step(Answer(RECORDED, "length", (4, 100, 104, 0))),
    ), base_url="https://router.huggingface.co/together/v1"),
    Case("huggingface-tool-call", "huggingface", "huggingface/test_request_structured_response.yaml", (
        Step(Answer("", "tool_calls", (19, 29, 48, 0), (
            Call("call_7qxjvbuxpm6017n3jcq1uqwt", "final_result", {"response": [2, 3, 5]}),
        ))),
    ), base_url="https://router.huggingface.co/together/v1"),
)

# -- TGI: a self-hosted server's Messages API (documented shapes; no key needed, one is sent if given) ---

TGI = (
    Case("tgi-text", "tgi", "documented/tgi/chat.yaml", (
        Step(Answer("OK!", "stop", (39, 3, 42, 0))),
    ), base_url="http://localhost:8080/v1"),
    Case("tgi-stream", "tgi", "documented/tgi/chat_stream.yaml", (
        Step(Answer("OK!", "stop", (39, 3, 42, 0))),
    ), base_url="http://localhost:8080/v1"),
    Case("tgi-error-validation", "tgi", "documented/tgi/chat_error_validation.yaml", (
        Step(Failure(BadRequestError, 400,
                     "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
                     "Given: 39 `inputs` tokens and 4000 `max_new_tokens`")),
    ), base_url="http://localhost:8080/v1"),
)

# -- Replicate: predictions created, then waited for, polled or streamed (documented examples) ----------

TINA = {
    "model": "meta/meta-llama-3.1-405b-instruct",
    "messages": [system("You are a helpful assistant."),
                 user("Tina has one brother and one sister. How many sisters do Tina's siblings have?")],
    "max_tokens": 1024, "temperature": 0.6, "top_p": 0.9,
    # Inputs of Llama's schema with no OpenAI name, sent as they are.
    "min_tokens": 0, "presence_penalty": 0, "frequency_penalty": 0,
}
TINA_ANSWER = Answer(RECORDED, "stop", (26, 84, 110, 0))

REPLICATE = (
    Case("replicate-wait", "replicate", "documented/replicate/prediction_wait.yaml", (Step(TINA_ANSWER, TINA),)),
    # Prefer: wait ran out: the prediction is polled at its urls.get until it has succeeded.
    Case("replicate-poll", "replicate", "documented/replicate/prediction_poll.yaml", (
        Step(TINA_ANSWER, TINA, upstream_calls=3),
    )),
    # Created with stream: true, read from its urls.stream (on another host of Replicate's), then read
    # once more for the usage in its metrics.
    Case("replicate-stream", "replicate", "documented/replicate/prediction_stream.yaml", (
        Step(TINA_ANSWER, {**TINA, "stream": True}, upstream_calls=3),
    )),
    # A failed prediction is the provider's trouble: retried once, which succeeds.
    Case("replicate-failed-then-retried", "replicate", "documented/replicate/prediction_failed_then_retried.yaml", (
        Step(TINA_ANSWER, TINA, upstream_calls=2),
    )),
    Case("replicate-error-invalid-input", "replicate", "documented/replicate/error_invalid_input.yaml", (
        Step(Failure(BadRequestError, 400, "- input.min_tokens: Must be greater than or equal to 0",
                     "Input validation failed", None, "input.min_tokens"), {**TINA, "min_tokens": -1}),
    )),
    Case("replicate-error-unauthenticated", "replicate", "documented/replicate/error_unauthenticated.yaml", (
        Step(Failure(AuthenticationError, 401, "You did not pass a valid authentication token", "Unauthenticated"),
             TINA),
    )),
)

VENDOR_CASES: tuple[Case, ...] = (*COHERE, *MISTRAL, *HUGGINGFACE, *TGI, *REPLICATE)
