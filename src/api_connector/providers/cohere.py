"""Cohere: its own API shapes (embed v2, rerank v2, chat v2)."""

from api_connector.providers.spec import HealthProbe, ProviderSpec

SPEC = ProviderSpec(
    type="cohere",
    title="Cohere",
    base_url="https://api.cohere.com",
    endpoints={},
    # Listing models is free and fails with 401 on a bad key.
    probe=HealthProbe(path="/v1/models"),
    docs_url="https://docs.cohere.com/reference/about",
)
