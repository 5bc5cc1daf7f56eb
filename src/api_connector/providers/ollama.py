"""Ollama: local models, no key; OpenAI-compatible routes under /v1 and its own under /api.

Its OpenAI-compatible chat names the answer's cap ``max_tokens`` only. Ollama's cloud
(``base_url: https://ollama.com``) takes the same requests with a key, sent as a bearer token.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.model_lists import named_models
from api_connector.wire.openai_chat import OpenAIChatWire
from api_connector.wire.openai_dialect import ChatDialect
from api_connector.wire.openai_embeddings import COMPATIBLE_EMBEDDINGS

SPEC = ProviderSpec(
    type="ollama",
    title="Ollama (local)",
    base_url="http://127.0.0.1:11434",
    endpoints={
        Capability.CHAT: Endpoint(
            path="/v1/chat/completions",
            wire=OpenAIChatWire(ChatDialect(renames={"max_completion_tokens": "max_tokens"})),
        ),
        # Its OpenAI-compatible route, not /api/embed: the answer carries usage in OpenAI's shape and it
        # takes ``dimensions``, so the compatible wire serves it. A local server documents no batch limit.
        Capability.EMBEDDINGS: Endpoint(path="/v1/embeddings", wire=COMPATIBLE_EMBEDDINGS),
    },
    listing=ModelListing("/api/tags", named_models),
    probe=HealthProbe(path="/api/tags"),
    requires_credential=False,
    docs_url="https://github.com/ollama/ollama/blob/main/docs/api.md",
)
