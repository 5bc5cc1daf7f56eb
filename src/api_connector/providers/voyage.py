"""Voyage AI: embeddings and rerank."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, ProviderSpec
from api_connector.wire.openai_embeddings import VOYAGE_EMBEDDINGS
from api_connector.wire.voyage_rerank import VOYAGE_RERANK

RERANK_MODELS = ("rerank-2.5", "rerank-2.5-lite", "rerank-2", "rerank-2-lite")

SPEC = ProviderSpec(
    type="voyage",
    title="Voyage AI",
    base_url="https://api.voyageai.com/v1",
    endpoints={
        Capability.RERANK: Endpoint(path="/rerank", wire=VOYAGE_RERANK),
        # Embeddings API reference: at most 1,000 inputs, and 120K tokens summed over them for
        # voyage-3-large and voyage-code-3 (320K for voyage-3.5, 1M for voyage-3.5-lite): the lowest,
        # since one endpoint serves every model.
        Capability.EMBEDDINGS: Endpoint(
            path="/embeddings", wire=VOYAGE_EMBEDDINGS, max_batch=1000, max_batch_tokens=120_000
        ),
    },
    models=("voyage-4", "voyage-3.5", "voyage-3.5-lite", "voyage-3-large", "voyage-code-3", *RERANK_MODELS),
    docs_url="https://docs.voyageai.com/reference/embeddings-api",
)
