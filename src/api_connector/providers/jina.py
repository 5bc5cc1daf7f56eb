"""Jina AI: embeddings and rerank."""

from api_connector.providers.spec import ProviderSpec

SPEC = ProviderSpec(
    type="jina",
    title="Jina AI",
    base_url="https://api.jina.ai/v1",
    endpoints={},
    docs_url="https://jina.ai/embeddings/",
)
