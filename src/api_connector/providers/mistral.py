"""Mistral AI: OpenAI-like chat on its own base URL, spoken in a declared dialect.

Mistral refuses (422) any request field it does not know, OpenAI's ``stream_options``,
``max_completion_tokens`` and ``user`` among them, and message fields outside its own per role; it
calls ``seed`` ``random_seed`` and ``tool_choice: "required"`` ``"any"``; its tool call ids are nine
letters and digits; it sends a stream's usage unasked, on the chunk with the finish reason; thinking
models answer content as a list of parts; its errors put message, type and code at the top level.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.model_lists import openai_models
from api_connector.wire.openai_dialect import ChatDialect
from api_connector.wire.openai_drift import DriftingChatWire, decode_flat_error
from api_connector.wire.openai_embeddings import MISTRAL_EMBEDDINGS

MISTRAL_DIALECT = ChatDialect(
    drops=frozenset({
        "stream_options", "user", "store", "metadata", "service_tier", "logit_bias", "logprobs", "top_logprobs",
        "modalities", "audio", "reasoning_effort", "web_search_options", "safety_identifier", "verbosity",
        "functions", "function_call",
    }),
    renames={"seed": "random_seed", "max_completion_tokens": "max_tokens"},
    tool_choices={"required": "any"},
    roles={"developer": "system"},
    message_fields={
        "system": frozenset({"role", "content"}),
        "user": frozenset({"role", "content"}),
        "assistant": frozenset({"role", "content", "tool_calls", "prefix"}),
        "tool": frozenset({"role", "content", "tool_call_id", "name"}),
    },
    tool_call_id_length=9,
    stream_usage=False,
    errors=decode_flat_error,
)
MISTRAL_CHAT = DriftingChatWire(MISTRAL_DIALECT, name="mistral_chat")

SPEC = ProviderSpec(
    type="mistral",
    title="Mistral AI",
    base_url="https://api.mistral.ai/v1",
    endpoints={
        Capability.CHAT: Endpoint(path="/chat/completions", wire=MISTRAL_CHAT),
        # Mistral caps the tokens of one embeddings request (16,384; LangChain's client batches at
        # 16,000) and documents no count; 128 inputs is what other clients send (Continue, Airweave).
        Capability.EMBEDDINGS: Endpoint(
            path="/embeddings", wire=MISTRAL_EMBEDDINGS, max_batch=128, max_batch_tokens=16_000
        ),
    },
    listing=ModelListing("/models", openai_models),
    probe=HealthProbe(path="/models"),
    models=(
        "mistral-large-latest",
        "mistral-medium-latest",
        "mistral-small-latest",
        "magistral-medium-latest",
        "magistral-small-latest",
        "codestral-latest",
        "pixtral-large-latest",
        "mistral-embed",
        "codestral-embed",
    ),
    docs_url="https://docs.mistral.ai/api/",
)
