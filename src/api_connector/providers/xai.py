"""xAI (Grok): OpenAI-compatible chat.

Its reasoning models count reasoning tokens apart from ``completion_tokens`` (``total_tokens`` has
them), and a wrong key is answered 400 "Incorrect API key provided" (classified as an auth failure).
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.openai_chat import OpenAIChatWire
from api_connector.wire.openai_dialect import ChatDialect

SPEC = ProviderSpec(
    type="xai",
    title="xAI",
    base_url="https://api.x.ai/v1",
    endpoints={
        Capability.CHAT: Endpoint(path="/chat/completions", wire=OpenAIChatWire(ChatDialect(reasoning_apart=True))),
    },
    probe=HealthProbe(path="/models"),
    models=("grok-4", "grok-3", "grok-3-mini"),
    docs_url="https://docs.x.ai/docs/api-reference",
)
