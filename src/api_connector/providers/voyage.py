"""Voyage AI: embeddings and rerank."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, ProviderSpec
from api_connector.wire.voyage_rerank import VOYAGE_RERANK

RERANK_MODELS = ("rerank-2.5", "rerank-2.5-lite", "rerank-2", "rerank-2-lite")

SPEC = ProviderSpec(
    type="voyage",
    title="Voyage AI",
    base_url="https://api.voyageai.com/v1",
    endpoints={
        Capability.RERANK: Endpoint(path="/rerank", wire=VOYAGE_RERANK),
    },
    models=RERANK_MODELS,
    docs_url="https://docs.voyageai.com/reference/embeddings-api",
)
