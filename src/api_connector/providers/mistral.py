"""Mistral AI: OpenAI-like chat on its own base URL, spoken in a declared dialect.

Mistral refuses (422) any request field it does not know, OpenAI's ``stream_options``,
``max_completion_tokens`` and ``user`` among them, and message fields outside its own per role; it
calls ``seed`` ``random_seed`` and ``tool_choice: "required"`` ``"any"``; its tool call ids are nine
letters and digits; it sends a stream's usage unasked, on the chunk with the finish reason; thinking
models answer content as a list of parts; its errors put message, type and code at the top level.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.openai_dialect import Dialect, DialectChatWire, decode_flat_error

MISTRAL_DIALECT = Dialect(
    dropped=frozenset({
        "stream_options", "user", "store", "metadata", "service_tier", "logit_bias", "logprobs", "top_logprobs",
        "modalities", "audio", "reasoning_effort", "web_search_options", "safety_identifier", "verbosity",
        "functions", "function_call",
    }),
    renamed={"seed": "random_seed", "max_completion_tokens": "max_tokens"},
    tool_choices={"required": "any"},
    roles={"developer": "system"},
    message_fields={
        "system": frozenset({"role", "content"}),
        "user": frozenset({"role", "content"}),
        "assistant": frozenset({"role", "content", "tool_calls", "prefix"}),
        "tool": frozenset({"role", "content", "tool_call_id", "name"}),
    },
    tool_call_id_length=9,
    stream_usage_option=False,
    errors=decode_flat_error,
)
MISTRAL_CHAT = DialectChatWire("mistral_chat", MISTRAL_DIALECT)

SPEC = ProviderSpec(
    type="mistral",
    title="Mistral AI",
    base_url="https://api.mistral.ai/v1",
    endpoints={Capability.CHAT: Endpoint(path="/chat/completions", wire=MISTRAL_CHAT)},
    probe=HealthProbe(path="/models"),
    models=(
        "mistral-large-latest",
        "mistral-medium-latest",
        "mistral-small-latest",
        "magistral-medium-latest",
        "magistral-small-latest",
        "codestral-latest",
        "pixtral-large-latest",
    ),
    docs_url="https://docs.mistral.ai/api/",
)
