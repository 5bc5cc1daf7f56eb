"""Voyage AI: embeddings and rerank."""

from api_connector.providers.spec import ProviderSpec

SPEC = ProviderSpec(
    type="voyage",
    title="Voyage AI",
    base_url="https://api.voyageai.com/v1",
    endpoints={},
    docs_url="https://docs.voyageai.com/reference/embeddings-api",
)
