"""Jina AI: embeddings and rerank."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, ProviderSpec
from api_connector.wire.openai_embeddings import JINA_EMBEDDINGS

SPEC = ProviderSpec(
    type="jina",
    title="Jina AI",
    base_url="https://api.jina.ai/v1",
    endpoints={
        # Embeddings API (jina.ai/embeddings): up to 2048 texts per request.
        Capability.EMBEDDINGS: Endpoint(path="/embeddings", wire=JINA_EMBEDDINGS, max_batch=2048),
    },
    models=("jina-embeddings-v3", "jina-embeddings-v2-base-en"),
    docs_url="https://jina.ai/embeddings/",
)
