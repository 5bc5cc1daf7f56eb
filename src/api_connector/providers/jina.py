"""Jina AI: embeddings and rerank."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, ProviderSpec
from api_connector.wire.cohere_rerank import JINA_RERANK

RERANK_MODELS = ("jina-reranker-v2-base-multilingual", "jina-reranker-m0", "jina-colbert-v2")

SPEC = ProviderSpec(
    type="jina",
    title="Jina AI",
    base_url="https://api.jina.ai/v1",
    endpoints={
        Capability.RERANK: Endpoint(path="/rerank", wire=JINA_RERANK),
    },
    models=RERANK_MODELS,
    docs_url="https://jina.ai/embeddings/",
)
