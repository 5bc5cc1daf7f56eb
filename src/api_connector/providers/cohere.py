"""Cohere: its own API shapes (embed v2, rerank v2, chat v2)."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.cohere_chat import CohereChatWire
from api_connector.wire.cohere_embed import COHERE_EMBED
from api_connector.wire.cohere_rerank import COHERE_RERANK
from api_connector.wire.model_lists import named_models

RERANK_MODELS = ("rerank-v3.5", "rerank-english-v3.0", "rerank-multilingual-v3.0")
CHAT_MODELS = (
    "command-a-03-2025",
    "command-a-reasoning-08-2025",
    "command-a-vision-07-2025",
    "command-r-plus-08-2024",
    "command-r-08-2024",
    "command-r7b-12-2024",
)

SPEC = ProviderSpec(
    type="cohere",
    title="Cohere",
    base_url="https://api.cohere.com",
    endpoints={
        Capability.RERANK: Endpoint(path="/v2/rerank", wire=COHERE_RERANK),
        # Embed API (v2) reference: "Maximum number of texts per call is 96".
        Capability.EMBEDDINGS: Endpoint(path="/v2/embed", wire=COHERE_EMBED, max_batch=96),
        # Cohere keeps no end user's id: ``user`` (for the vendor's abuse monitoring) is left out.
        Capability.CHAT: Endpoint(path="/v2/chat", wire=CohereChatWire(drops=frozenset({"user"}))),
    },
    # Listing models is free and fails with 401 on a bad key.
    listing=ModelListing("/v1/models", named_models),
    probe=HealthProbe(path="/v1/models"),
    models=(
        "embed-v4.0",
        "embed-english-v3.0",
        "embed-multilingual-v3.0",
        "embed-english-light-v3.0",
        "embed-multilingual-light-v3.0",
        *RERANK_MODELS,
        *CHAT_MODELS,
    ),
    docs_url="https://docs.cohere.com/reference/about",
)
