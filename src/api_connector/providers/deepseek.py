"""DeepSeek: OpenAI-compatible chat; the answer's cap is ``max_tokens`` only."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.openai_chat import OpenAIChatWire
from api_connector.wire.openai_dialect import ChatDialect

SPEC = ProviderSpec(
    type="deepseek",
    title="DeepSeek",
    base_url="https://api.deepseek.com",
    endpoints={
        Capability.CHAT: Endpoint(
            path="/chat/completions",
            wire=OpenAIChatWire(ChatDialect(renames={"max_completion_tokens": "max_tokens"})),
        ),
    },
    probe=HealthProbe(path="/models"),
    models=("deepseek-chat", "deepseek-reasoner"),
    # No rate-limit headers: DeepSeek limits dynamically and says nothing of what is left.
    docs_url="https://api-docs.deepseek.com/api/create-chat-completion",
)
