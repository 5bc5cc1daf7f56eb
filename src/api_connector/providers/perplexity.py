"""Perplexity (Sonar): OpenAI-compatible chat with web search; answers add citations and search results.

Its documented request fields name the answer's cap ``max_tokens`` and have no ``stream_options``:
its streams carry their usage on the last chunk unasked.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, ProviderSpec
from api_connector.wire.openai_chat import OpenAIChatWire
from api_connector.wire.openai_dialect import ChatDialect

SPEC = ProviderSpec(
    type="perplexity",
    title="Perplexity",
    base_url="https://api.perplexity.ai",
    endpoints={
        Capability.CHAT: Endpoint(
            path="/chat/completions",
            wire=OpenAIChatWire(ChatDialect(renames={"max_completion_tokens": "max_tokens"}, stream_usage=False)),
        ),
    },
    models=("sonar", "sonar-pro", "sonar-reasoning-pro", "sonar-deep-research"),
    docs_url="https://docs.perplexity.ai/api-reference/chat-completions-post",
)
