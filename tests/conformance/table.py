"""Every conformance case: OpenAI, Groq, Anthropic, OpenAI-compatible and their vendors' recordings, and
documented examples where nothing was recorded (see ``cases``)."""

from __future__ import annotations

from openai import AuthenticationError, BadRequestError, InternalServerError, NotFoundError, RateLimitError

from tests.conformance.cases import (
    CONFORMANCE_DATA,
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
from tests.recorded import load_cassette

# -- OpenAI: the recorded requests are OpenAI requests, sent as they are ------------------------------

OPENAI = (
    Case("openai-text", "openai", "openai/test_openai_instructions.yaml", (
        Step(Answer("The capital of France is Paris.", "stop", (24, 8, 32, 0))),
    )),
    Case("openai-reasoning-model-text", "openai", "openai/test_openai_model_without_system_prompt.yaml", (
        Step(Answer(RECORDED, "stop", (11, 809, 820, 0))),
    )),
    Case("openai-tool-calls", "openai", "openai/test_openai_tool_output.yaml", (
        Step(Answer("", "tool_calls", (68, 12, 80, 0),
                    (Call("call_iXFttys57ap0o16JSlC8yhYo", "get_user_country", {}),))),
        Step(Answer("", "tool_calls", (89, 36, 125, 0), (
            Call("call_gmD2oUZUzSoCkmNmp3JPUF7R", "final_result", {"city": "Mexico City", "country": "Mexico"}),
        ))),
    )),
    Case("openai-stream-tool-call-then-text", "openai", "openai/test_run_stream_sync_streams_real_model.yaml", (
        Step(Answer("", "tool_calls", (53, 15, 68, 0),
                    (Call("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", {"country": "UK"}),))),
        Step(Answer("The capital of the UK is London.", "stop", (78, 9, 87, 0))),
    )),
    # Structured output (response_format json_schema) after a tool call: both reach OpenAI as sent.
    Case("openai-json-schema-after-tool-call", "openai", "openai/test_openai_native_output.yaml", (
        Step(Answer("", "tool_calls", (71, 12, 83, 0),
                    (Call("call_PkRGedQNRFUzJp2R7dO7avWR", "get_user_country", {}),))),
        Step(Answer('{"city":"Mexico City","country":"Mexico"}', "stop", (92, 15, 107, 0))),
    )),
    # A vendor extension (moderation) in the request and an extra chunk after the usage chunk.
    Case("openai-stream-moderation", "openai", "openai/test_openai_moderation_stream.yaml", (
        Step(Answer("Paris.", "stop", (13, 11, 24, 0))),
    )),
    Case("openai-error-unsupported-value", "openai", "openai/test_openai_o1_mini_system_role_developer.yaml", (
        Step(Failure(BadRequestError, 400,
                     "Unsupported value: 'messages[0].role' does not support 'developer' with this model.",
                     "invalid_request_error", "unsupported_value", "messages[0].role")),
    )),
    Case("openai-error-unsupported-option", "openai",
         "openai/test_openai_web_search_tool_model_not_supported.yaml", (
        Step(Failure(BadRequestError, 400, "Web search options not supported with this model.",
                     "invalid_request_error", None, "web_search_options")),
    )),
)

# -- Groq: OpenAI-shaped too, on its own base URL -----------------------------------------------------

GROQ = (
    Case("groq-text", "groq", "groq/test_groq_model_instructions.yaml", (
        Step(Answer("The capital of France is Paris.", "stop", (48, 8, 56, 0))),
    )),
    Case("groq-error-model-not-found", "groq", "groq/test_tool_regular_error.yaml", (
        Step(Failure(NotFoundError, 404,
                     "The model `non-existent` does not exist or you do not have access to it.",
                     "invalid_request_error", "model_not_found")),
    )),
    # A failed tool call (400), the retried call, then the final answer with cached prompt tokens.
    Case("groq-tool-use-failed-then-recovered", "groq", "groq/test_tool_use_failed_error.yaml", (
        Step(Failure(BadRequestError, 400,
                     "Tool call validation failed: tool call validation failed: parameters for tool "
                     "get_something_by_name did not match schema: errors: [missing properties: 'name', "
                     "additionalProperties 'foo' not allowed]",
                     "invalid_request_error", "tool_use_failed")),
        Step(Answer("", "tool_calls", (301, 52, 353, 0), (
            Call("fc_311ba17b-89f9-48d3-8fd9-7e74a1264855", "get_something_by_name", {"name": "test"}),
        ))),
        Step(Answer(RECORDED, "stop", (336, 96, 432, 256))),
    )),
)

# -- Anthropic: OpenAI requests whose translation is the recorded Messages request ---------------------

def recorded_pdf() -> str:
    """The base64 PDF the recording sent (too long to spell out here)."""
    (interaction,) = load_cassette(CONFORMANCE_DATA / "anthropic" / "test_document_binary_content_input.yaml")
    data: str = interaction.request.body["messages"][0]["content"][1]["source"]["data"]
    return data


CITY_SCHEMA = {
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "title": "CityLocation",
    "type": "object",
}
COUNTRY_TOOLS = [
    function("get_user_country", "", {"additionalProperties": False, "properties": {}, "type": "object"}),
    function("final_result", "The final response which ends this conversation", CITY_SCHEMA),
]
FAMILY_SYSTEM = (
    "\n    Use the `retrieve_entity_info` tool to get information about a specific person.\n"
    "    If you need to use `retrieve_entity_info` to get information about multiple people, try\n"
    "    to call them in parallel as much as possible.\n"
    "    Think step by step and then provide a single most probable concise answer.\n    "
)
FAMILY_QUESTION = user("Alice, Bob, Charlie and Daisy are a family. Who is the youngest?")
FAMILY_TOOLS = [function("retrieve_entity_info", "Get the knowledge about the given entity.", {
    "additionalProperties": False, "properties": {"name": {"type": "string"}}, "required": ["name"],
    "type": "object",
})]
FAMILY_CALLS = ("toolu_0167cfEnoQaPviGdVXA95zcu", "toolu_01EEe2V5HD1Ac4rKiUR4HD2T",
                "toolu_01XFyAjstT3966qvRynZyVPo", "toolu_013mnQZbgtK2oe3Mo3XKJsx3")
FAMILY_FACTS = ("alice is bob's wife", "bob is alice's husband", "charlie is alice's son",
                "daisy is bob's daughter and charlie's younger sister")
PYTHON_QUESTION = user("Please explain what Python is and its main use cases. " * 100)
VEGETABLE = "https://t3.ftcdn.net/jpg/00/85/79/92/360_F_85799278_0BBGV9OAdQDTLnKwAPBCcg1J7QtiieJY.jpg"
STREET = user("How do I cross the street?")
MAGIC = user("ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253D5E2D8"
             "2641AC0E52CC2876CB")

ANTHROPIC = (
    Case("anthropic-text-with-system", "anthropic", "anthropic/test_anthropic_model_instructions.yaml", (
        Step(Answer("The capital of France is Paris.", "stop", (20, 10, 30, 0)), {
            "model": "claude-3-opus-latest",
            "messages": [system("You are a helpful assistant.\n\n"), user("What is the capital of France?")],
        }),
    )),
    # Cache reads and writes count as prompt tokens, the reads as cached ones (OpenAI's meaning).
    Case("anthropic-prompt-cache-usage", "anthropic", "anthropic/test_anthropic_cache_real_api.yaml", (
        Step(Answer(RECORDED, "stop", (1114, 406, 1520, 1111)), {
            "model": "claude-sonnet-4-5",
            "messages": [system("You are a helpful assistant."), PYTHON_QUESTION],
        }, not_in_openai_shape=("cache_control",)),
        Step(Answer(RECORDED, "stop", (1532, 33, 1565, 1111)), {
            "model": "claude-sonnet-4-5",
            "messages": [system("You are a helpful assistant."), PYTHON_QUESTION, PREVIOUS_REPLY,
                         user("Can you summarize that in one sentence?")],
        }, not_in_openai_shape=("cache_control",)),
    )),
    # Thinking blocks are not part of the OpenAI answer. (The cassette's second call sends thinking
    # blocks back, which no OpenAI request can: only the first is replayed.)
    Case("anthropic-thinking-left-out", "anthropic", "anthropic/test_anthropic_model_thinking_part.yaml", (
        Step(Answer(RECORDED, "stop", (43, 321, 364, 0)), {"model": "claude-sonnet-4-5", "messages": [STREET]},
             not_in_openai_shape=("thinking",)),
    )),
    Case("anthropic-sampling-settings", "anthropic",
         "anthropic/test_anthropic_sampling_settings_reach_the_wire.yaml", (
        Step(Answer("Hello! 👋 How can I help you today?", "stop", (8, 16, 24, 0)), {
            "model": "claude-haiku-4-5", "messages": [user("hello")], "temperature": 0.2,
        }, not_in_openai_shape=("top_k",)),
    )),
    Case("anthropic-tool-calls", "anthropic", "anthropic/test_anthropic_tool_output.yaml", (
        Step(Answer("", "tool_calls", (445, 23, 468, 0),
                    (Call("toolu_01X9wcHKKAZD9tBC711xipPa", "get_user_country", {}),)), {
            "model": "claude-sonnet-4-5", "tools": COUNTRY_TOOLS, "tool_choice": "required",
            "messages": [user("What is the largest city in the user country?")],
        }),
        Step(Answer("", "tool_calls", (497, 56, 553, 0), (
            Call("toolu_01LZABsgreMefH2Go8D5PQbW", "final_result", {"city": "Mexico City", "country": "Mexico"}),
        )), {
            "model": "claude-sonnet-4-5", "tools": COUNTRY_TOOLS, "tool_choice": "required",
            "messages": [user("What is the largest city in the user country?"), PREVIOUS_REPLY,
                         tool_result("toolu_01X9wcHKKAZD9tBC711xipPa", "Mexico")],
        }),
    )),
    Case("anthropic-image-url", "anthropic", "anthropic/test_image_url_input.yaml", (
        Step(Answer(RECORDED, "stop", (296, 91, 387, 0)), {
            "model": "claude-haiku-4-5",
            "messages": [user([{"type": "text", "text": "What is this vegetable?"},
                               {"type": "image_url", "image_url": {"url": VEGETABLE}}])],
        }),
    )),
    Case("anthropic-parallel-tool-calls", "anthropic", "anthropic/test_multiple_parallel_tool_calls.yaml", (
        Step(Answer(RECORDED, "tool_calls", (423, 202, 625, 0), tuple(
            Call(call_id, "retrieve_entity_info", {"name": name})
            for call_id, name in zip(FAMILY_CALLS, ("Alice", "Bob", "Charlie", "Daisy"), strict=True)
        )), {
            "model": "claude-haiku-4-5", "tools": FAMILY_TOOLS, "tool_choice": "auto",
            "messages": [system(FAMILY_SYSTEM), FAMILY_QUESTION],
        }),
        Step(Answer(RECORDED, "stop", (771, 77, 848, 0)), {
            "model": "claude-haiku-4-5", "tools": FAMILY_TOOLS, "tool_choice": "auto",
            "messages": [system(FAMILY_SYSTEM), FAMILY_QUESTION, PREVIOUS_REPLY,
                         *(tool_result(c, fact) for c, fact in zip(FAMILY_CALLS, FAMILY_FACTS, strict=True))],
        }),
    )),
    Case("anthropic-error-invalid-request", "anthropic",
         "anthropic/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml", (
        Step(Failure(BadRequestError, 400,
                     "This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium.",
                     "invalid_request_error"), {
            "model": "claude-opus-4-6", "messages": [user("What is 2+2?")],
        }, not_in_openai_shape=("output_config",)),
    )),
    # Anthropic's not_found error body, recorded on count_tokens, answered here for a Messages call.
    Case("anthropic-error-not-found", "anthropic", "anthropic/test_anthropic_count_tokens_error.yaml", (
        Step(Failure(NotFoundError, 404, "model: claude-does-not-exist", "not_found_error"), {
            "model": "claude-does-not-exist", "messages": [user("hello")],
        }),
    ), rerouted=True),
    # An empty turn is dropped; the history may then start with the assistant.
    Case("anthropic-history-starts-with-assistant", "anthropic",
         "conformance/anthropic/test_anthropic_model_empty_message_on_history.yaml", (
        Step(Answer(RECORDED, "stop", (41, 88, 129, 0)), {
            "model": "claude-sonnet-4-5",
            "messages": [system("You are a helpful assistant.\n\n"), user(""),
                         {"role": "assistant", "content": "Hello, how can I help you?"}, user("I need a potato!")],
        }),
    )),
    Case("anthropic-pdf-file", "anthropic", "conformance/anthropic/test_document_binary_content_input.yaml", (
        Step(Answer("The document simply contains the text \"Dummy PDF file\" at the top of what appears to be "
                    "an otherwise blank page.", "stop", (1615, 28, 1643, 0)), {
            "model": "claude-sonnet-4-5",
            "messages": [user([
                {"type": "text", "text": "What is the main content on this document?"},
                {"type": "file", "file": {"filename": "dummy.pdf",
                                          "file_data": f"data:application/pdf;base64,{recorded_pdf()}"}},
            ])],
        }),
    )),
    Case("anthropic-user-as-metadata", "anthropic", "conformance/anthropic/test_extra_headers.yaml", (
        Step(Answer(RECORDED, "stop", (8, 21, 29, 0)), {
            "model": "claude-haiku-4-5", "messages": [user("hello")], "user": "123",
        }),
    )),
    Case("anthropic-stream-thinking-left-out", "anthropic",
         "anthropic/test_anthropic_model_thinking_part_stream.yaml", (
        Step(Answer(RECORDED, "stop", (43, 282, 325, 0)), {
            "model": "claude-sonnet-4-0", "messages": [STREET], "stream": True,
        }, not_in_openai_shape=("thinking",)),
    )),
    Case("anthropic-stream-redacted-thinking", "anthropic",
         "anthropic/test_anthropic_model_thinking_part_redacted_stream.yaml", (
        Step(Answer(RECORDED, "stop", (92, 189, 281, 0)), {
            "model": "claude-sonnet-4-5-20250929", "messages": [MAGIC], "stream": True,
        }, not_in_openai_shape=("thinking",)),
    )),
    Case("anthropic-stream-max-tokens", "anthropic",
         "anthropic/test_request_stream_fallback_for_high_max_tokens.yaml", (
        Step(Answer("2", "stop", (20, 5, 25, 0)), {
            "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": True,
            "messages": [user("What is 1+1? Answer with just the number.")],
        }),
    )),
)

# Raw streams recorded by the Anthropic SDK's own tests: no request was recorded with them.


def _sdk_stream(name: str, model: str, answer: Answer, **request: object) -> Case:
    body = {"model": model, "messages": [user("Hello")], "stream": True, **request}
    return Case(f"anthropic-sdk-stream-{name.replace('_', '-')}", "anthropic",
                f"anthropic/sdk_streams/{name}_response.txt", (Step(answer, body),), rerouted=True)


WEATHER_TOOL = function("get_weather", "Weather for a place.", {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"],
})
FILE_TOOL = function("make_file", "Write a file.", {
    "type": "object",
    "properties": {"filename": {"type": "string"}, "lines_of_text": {"type": "array", "items": {"type": "string"}}},
})
TRUNCATED_ARGUMENTS = (
    '{"filename": "taxes.txt", "lines_of_text": [\n"# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH '
    'MULTIPLE W-2s",\n"",\n"## INTRODUCTION",\n"",\n"Filing taxes'
)

ANTHROPIC_SDK_STREAMS = (
    _sdk_stream("basic", "claude-3-opus-latest", Answer("Hello there!", "stop", (11, 6, 17, 0))),
    _sdk_stream("tool_use", "claude-sonnet-4-20250514", Answer(
        "I'll check the current weather in Paris for you.", "tool_calls", (377, 65, 442, 0),
        (Call("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"}),),
    ), tools=[WEATHER_TOOL]),
    # Cut off by max_tokens in the middle of the tool input: the client gets the partial JSON as is.
    _sdk_stream("incomplete_partial_json", "claude-3-7-sonnet-20250219", Answer(
        "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called "
        "taxes.txt. Let me do that for you now.", "length", (450, 124, 574, 0),
        (Call("toolu_01EKqbqmZrGRXy18eN7m9kvY", "make_file", TRUNCATED_ARGUMENTS),),
    ), tools=[FILE_TOOL]),
    _sdk_stream("refusal", "claude-opus-4-7", Answer("", "content_filter", (20, 0, 20, 0))),
    _sdk_stream("compaction", "claude-opus-4-7", Answer("Hello there!", "stop", (30, 8, 38, 0))),
    _sdk_stream("fallback", "claude-opus-4-7", Answer("Hello there!", "stop", (25, 8, 33, 0))),
    _sdk_stream("fallback_credit", "claude-sonnet-4-5", Answer("Hello there!", "stop", (25, 8, 33, 0))),
)

# -- OpenAI-compatible vendors (tests/conformance/data/openai_compatible) ------------------------------

OPENAI_COMPATIBLE = (
    Case("openai-compatible-ollama-text-then-tool-call", "openai_compatible",
         "conformance/openai_compatible/test_ollama_cloud_tool_output.yaml", (
        Step(Answer("Paris.", "stop", (134, 122, 256, 0))),
        Step(Answer("", "tool_calls", (206, 194, 400, 0),
                    (Call("call_o2vnpxrw", "final_result", {"city": "Paris", "country": "France"}),))),
    ), base_url="https://ollama.com/v1"),
    Case("openai-compatible-cerebras-text", "openai_compatible",
         "conformance/openai_compatible/test_cerebras_model_simple.yaml", (
        Step(Answer("2 + 2 = 4.", "stop", (43, 9, 52, 0))),
    ), base_url="https://api.cerebras.ai/v1"),
    # A 429 is retried once by default, then reaches the caller as a 429.
    Case("openai-compatible-openrouter-rate-limited", "openai_compatible",
         "conformance/openai_compatible/test_openrouter_errors_raised.yaml", (
        Step(Failure(RateLimitError, 429, "Provider returned error", None, "429"), upstream_calls=2),
    ), base_url="https://openrouter.ai/api/v1"),
    # Vendor-specific request fields forwarded as sent; SSE comments; OpenRouter puts the usage (with
    # cached tokens) on a chunk of its own that still has a choice, after the finish chunk.
    Case("openai-compatible-openrouter-stream-vendor-options", "openai_compatible",
         "conformance/openai_compatible/test_openrouter_stream_with_native_options.yaml", (
        Step(Answer(RECORDED, "stop", (687, 187, 874, 679), usage_chunk_alone=False)),
    ), base_url="https://openrouter.ai/api/v1"),
    # SSE comments, two finish chunks, then an error chunk: the client gets the chunks, then the error.
    Case("openai-compatible-openrouter-stream-error", "openai_compatible",
         "conformance/openai_compatible/test_openrouter_stream_error.yaml", (
        Step(BrokenStream("Token limit reached")),
    ), base_url="https://openrouter.ai/api/v1"),
)

# -- Azure OpenAI: deployments in the path, api-version in the query, content filters --------------------

AZURE = "https://fake-azure-endpoint.openai.azure.com"  # crewAI's recordings, their host rewritten so
AZURE_FILTERED = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry. To learn more about our content filtering policies please read "
    "our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)
AZURE_TOOL_STEPS = (
    Step(Answer("", "tool_calls", (194, 19, 213, 0),
                (Call("call_yusjHcc6BMO8J3LrKrcXty8H", "add_numbers", {"a": 15, "b": 27}),))),
    Step(Answer(RECORDED, "stop", (221, 36, 257, 0))),
    Step(Answer(RECORDED, "stop", (259, 36, 295, 0))),
)

AZURE_OPENAI = (
    # Answers carry content_filter_results and prompt_filter_results: passed on as they came.
    Case("azure-text-with-filter-results", "azure_openai", "azure/test_azure_provider_call.yaml", (
        Step(Answer("The capital of France is **Paris**.", "stop", (14, 9, 23, 0))),
    ), base_url="https://pydanticai7521574644.openai.azure.com"),
    Case("azure-sampling-parameters", "azure_openai", "crewai/azure/test_azure_async_with_parameters.yaml", (
        Step(Answer(RECORDED, "stop", (12, 28, 40, 0))),
    ), base_url=AZURE, deployment="gpt-4o-mini"),
    Case("azure-conversation", "azure_openai", "crewai/azure/test_azure_async_conversation.yaml", (
        Step(Answer("Your name is Alice.", "stop", (33, 6, 39, 0))),
    ), base_url=AZURE, deployment="gpt-4o-mini"),
    # The stream opens with a chunk annotating the prompt, before the answer has an id: the client
    # gets it with the answer's id.
    Case("azure-stream-prompt-annotations", "azure_openai", "crewai/azure/test_azure_streaming_completion.yaml", (
        Step(Answer("Hello! How can I assist you today?", "stop", (9, 10, 19, 0))),
    ), base_url=AZURE, deployment="gpt-4o-mini"),
    Case("azure-tools-and-structured-output", "azure_openai",
         "crewai/azure/test_azure_agent_kickoff_structured_output_with_tools.yaml", AZURE_TOOL_STEPS,
         base_url=AZURE, deployment="gpt-4o-mini"),
    # Documented (tests/data/documented/azure_openai): a prompt refused by the filters, an answer cut by them.
    Case("azure-error-prompt-filtered", "azure_openai", "documented/azure_openai/content_filter_prompt.yaml", (
        Step(Failure(BadRequestError, 400, AZURE_FILTERED, None, "content_filter", "prompt")),
    ), base_url=AZURE, deployment="gpt-4o-mini"),
    Case("azure-answer-filtered", "azure_openai", "documented/azure_openai/content_filter_answer.yaml", (
        Step(Answer("", "content_filter", (15, 67, 82, 0))),
    ), base_url=AZURE, deployment="gpt-4o-mini"),
    # A service principal: Entra ID's (documented) token is asked once and serves all three calls.
    Case("azure-entra-tools", "azure_openai_entra",
         "crewai/azure/test_azure_agent_kickoff_structured_output_with_tools.yaml", AZURE_TOOL_STEPS,
         base_url=AZURE, deployment="gpt-4o-mini"),
)

# -- OpenAI-compatible vendors declared as providers of their own ----------------------------------------

DEEPSEEK = (
    Case("deepseek-reasoner-text", "deepseek", "deepseek/test_deepseek_model_thinking_part.yaml", (
        Step(Answer(RECORDED, "stop", (12, 789, 801, 0))),
    )),
    # reasoning_content sent back in the assistant turns, as DeepSeek asks: forwarded as sent.
    Case("deepseek-tool-calls-with-reasoning", "deepseek",
         "deepseek/test_deepseek_deferred_capability_with_thinking.yaml", (
        Step(Answer("Let me load the dice rolling capability!", "tool_calls", (563, 116, 679, 512),
                    (Call("call_00_sXqYgMESDht75NCLLZtt9804", "load_capability", {"id": "DICE_ROLL"}),))),
        Step(Answer("Let me get your name and roll the die!", "tool_calls", (875, 79, 954, 0), (
            Call("call_00_6edlnw3Z1MgeMfey687g8451", "get_player_name", {}),
            Call("call_01_km02sac7sHxNDPATKLZy7705", "roll_dice", {}),
        ))),
        Step(Answer(RECORDED, "stop", (976, 61, 1037, 896))),
    )),
)

CEREBRAS = (
    # Cerebras' own request fields (clear_thinking, reasoning_effort) reach it as sent.
    Case("cerebras-reasoning-settings", "cerebras", "cerebras/test_cerebras_disable_reasoning_setting.yaml", (
        Step(Answer("The answer is 4.", "stop", (13, 7, 20, 0))),
    )),
    Case("cerebras-reasoning-sent-back", "cerebras", "cerebras/test_cerebras_thinking_part_survives_multiturn.yaml", (
        Step(Answer("4.", "stop", (79, 37, 116, 0))),
        Step(Answer(RECORDED, "stop", (98, 47, 145, 0))),
    )),
)

OLLAMA = (
    Case("ollama-local-json-schema", "ollama", "ollama/test_ollama_local_native_output_uses_json_schema.yaml", (
        Step(Answer('{ "city": "Paris", "country": "France" }', "stop", (136, 15, 151, 0))),
    ), base_url="http://localhost:11434"),
    Case("ollama-cloud-json-mode", "ollama", "ollama/test_ollama_cloud_prompted_output.yaml", (
        Step(Answer(RECORDED, "stop", (172, 88, 260, 0))),
    ), base_url="https://ollama.com"),
)

OPENROUTER = (
    Case("openrouter-tool-call", "openrouter", "openrouter/test_openrouter_tool_calling.yaml", (
        Step(Answer("", "tool_calls", (134, 43, 177, 0), (
            Call("3sniiMddS", "divide", {"numerator": 123, "denominator": 456, "on_inf": "infinity"}),
        ))),
    )),
    # SSE comments, reasoning deltas, usage (with its cost) on a chunk of its own that keeps a choice.
    Case("openrouter-stream-reasoning", "openrouter", "openrouter/test_openrouter_streaming_reasoning.yaml", (
        Step(Answer("2 + 2 = 4", "stop", (43, 36, 79, 0), usage_chunk_alone=False)),
    )),
    Case("openrouter-rate-limited", "openrouter", "conformance/openai_compatible/test_openrouter_errors_raised.yaml", (
        Step(Failure(RateLimitError, 429, "Provider returned error", None, "429"), upstream_calls=2),
    )),
)

# Nothing recorded: the vendors' documented examples (tests/data/documented/<vendor>).
DOCUMENTED_CHAT = (
    Case("xai-text", "xai", "documented/xai/chat.yaml", (
        Step(Answer(RECORDED, "stop", (36, 24, 60, 0))),
    )),
    # xAI answers a wrong key with a 400: an authentication failure all the same.
    Case("xai-error-wrong-key", "xai", "documented/xai/wrong_key.yaml", (
        Step(Failure(AuthenticationError, 401,
                     "Incorrect API key provided: xa***kY. You can obtain an API key from https://console.x.ai.")),
    )),
    Case("fireworks-text", "fireworks", "documented/fireworks/chat.yaml", (
        Step(Answer(RECORDED, "stop", (17, 17, 34, 0))),
    )),
    Case("together-text", "together", "documented/together/chat.yaml", (
        Step(Answer(RECORDED, "stop", (47, 20, 67, 0))),
    )),
    Case("perplexity-text-with-citations", "perplexity", "documented/perplexity/chat.yaml", (
        Step(Answer(RECORDED, "stop", (14, 21, 35, 0))),
    )),
    # No stream_options sent; the usage comes unasked on the last chunk, with the finish reason.
    Case("perplexity-stream", "perplexity", "documented/perplexity/stream.yaml", (
        Step(Answer("The Milky Way has an estimated 100 to 400 billion stars [1].", "stop", (14, 21, 35, 0),
                    usage_chunk_alone=False)),
    )),
    Case("vllm-text", "vllm", "documented/vllm/chat.yaml", (
        Step(Answer("The Los Angeles Dodgers won the 2020 World Series.", "stop", (31, 12, 43, 0))),
    ), base_url="http://localhost:8000/v1"),
    Case("lmstudio-text", "lmstudio", "documented/lmstudio/chat.yaml", (
        Step(Answer(RECORDED, "stop", (24, 16, 40, 0))),
    ), base_url="http://localhost:1234/v1"),
)

CASES: tuple[Case, ...] = (
    *OPENAI, *GROQ, *ANTHROPIC, *ANTHROPIC_SDK_STREAMS, *OPENAI_COMPATIBLE,
    *AZURE_OPENAI, *DEEPSEEK, *CEREBRAS, *OLLAMA, *OPENROUTER, *DOCUMENTED_CHAT,
)

# -- Google: Gemini (AI Studio) and Vertex AI, translated (tests/conformance/google_table.py) ------------

from tests.conformance.google_table import GEMINI, VERTEX  # noqa: E402

CASES = (*CASES, *GEMINI, *VERTEX)

# -- AWS Bedrock: Converse translated both ways, streams in AWS's event stream (tests/conformance/bedrock_cases.py)

from tests.conformance.bedrock_cases import BEDROCK  # noqa: E402

CASES = (*CASES, *BEDROCK)

# -- Cohere, Mistral, Hugging Face, TGI and Replicate (tests/conformance/table_chat_vendors.py) ----------

from tests.conformance.table_chat_vendors import VENDOR_CASES  # noqa: E402

CASES = (*CASES, *VENDOR_CASES)

# -- Answers nothing recorded shows, from Anthropic's documented examples (tests/data/documented) --------

HELLO = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [user("Hello, world")]}

ANTHROPIC_DOCUMENTED = (
    # 529 overloaded is retried once, then reaches the caller as the provider's failure (502).
    Case("anthropic-documented-overloaded", "anthropic", "documented/anthropic/overloaded.yaml", (
        Step(Failure(InternalServerError, 502, "Overloaded", "overloaded_error"), HELLO, upstream_calls=2),
    )),
    Case("anthropic-documented-stream-overloaded", "anthropic", "documented/anthropic/stream_overloaded.txt", (
        Step(BrokenStream("Overloaded"), {**HELLO, "stream": True}),
    ), rerouted=True),
    # The matched sequence rides along as the choice's ``stop_reason`` (vLLM's field).
    Case("anthropic-documented-stop-sequence", "anthropic", "documented/anthropic/stop_sequence.yaml", (
        Step(Answer("Hi! My name is Claude.", "stop", (2095, 503, 2598, 0)), {**HELLO, "stop": ["\n\nHuman:"]}),
    )),
)

# Reasoning deltas (``reasoning``, ``reasoning_details``) pass through to OpenAI clients untouched.
OPENAI_COMPATIBLE_REASONING = (
    Case("openai-compatible-openrouter-stream-reasoning", "openai_compatible",
         "conformance/openai_compatible/test_openrouter_streaming_reasoning.yaml", (
        Step(Answer(RECORDED, "stop", (43, 36, 79, 0), usage_chunk_alone=False)),
    ), base_url="https://openrouter.ai/api/v1"),
)

CASES += (*ANTHROPIC_DOCUMENTED, *OPENAI_COMPATIBLE_REASONING)
