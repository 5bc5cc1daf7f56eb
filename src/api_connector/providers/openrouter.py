"""OpenRouter: one OpenAI-compatible API in front of many vendors (``vendor/model`` names)."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.openai_chat import OPENAI_CHAT

SPEC = ProviderSpec(
    type="openrouter",
    title="OpenRouter",
    base_url="https://openrouter.ai/api/v1",
    endpoints={Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT)},
    # The model list is public; the key's own record (GET /key) answers 401 to a bad key.
    probe=HealthProbe(path="/key"),
    models=("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash"),
    docs_url="https://openrouter.ai/docs/api-reference/chat-completion",
)
