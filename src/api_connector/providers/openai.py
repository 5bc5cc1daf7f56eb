"""OpenAI: the reference Chat Completions API."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.openai_chat import OPENAI_CHAT
from api_connector.wire.openai_responses import OPENAI_RESPONSES

SPEC = ProviderSpec(
    type="openai",
    title="OpenAI",
    base_url="https://api.openai.com/v1",
    endpoints={
        Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT),
        Capability.RESPONSES: Endpoint(path="/responses", wire=OPENAI_RESPONSES),
    },
    # Listing models is free and fails with 401 on a bad key: the cheapest proof a key works.
    probe=HealthProbe(path="/models"),
    models=("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3-mini", "o4-mini"),
    docs_url="https://platform.openai.com/docs/api-reference/chat",
)
