"""Jina AI: embeddings and rerank."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, ProviderSpec
from api_connector.wire.cohere_rerank import JINA_RERANK
from api_connector.wire.openai_embeddings import JINA_EMBEDDINGS

RERANK_MODELS = ("jina-reranker-v2-base-multilingual", "jina-reranker-m0", "jina-colbert-v2")

SPEC = ProviderSpec(
    type="jina",
    title="Jina AI",
    base_url="https://api.jina.ai/v1",
    endpoints={
        Capability.RERANK: Endpoint(path="/rerank", wire=JINA_RERANK),
        # Embeddings API (jina.ai/embeddings): up to 2048 texts per request.
        Capability.EMBEDDINGS: Endpoint(path="/embeddings", wire=JINA_EMBEDDINGS, max_batch=2048),
    },
    models=("jina-embeddings-v3", "jina-embeddings-v2-base-en", *RERANK_MODELS),
    docs_url="https://jina.ai/embeddings/",
)
