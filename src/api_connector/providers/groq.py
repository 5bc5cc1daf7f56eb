"""Groq: OpenAI-compatible chat on its own base URL."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.model_lists import openai_models
from api_connector.wire.openai_chat import OPENAI_CHAT

SPEC = ProviderSpec(
    type="groq",
    title="Groq",
    base_url="https://api.groq.com/openai/v1",
    endpoints={Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT)},
    listing=ModelListing("/models", openai_models),
    probe=HealthProbe(path="/models"),
    models=("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-120b", "qwen/qwen3-32b"),
    docs_url="https://console.groq.com/docs/api-reference",
)
