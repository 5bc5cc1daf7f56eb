"""Together AI: OpenAI-compatible chat and embeddings, and rerank."""

from api_connector.providers.spec import HealthProbe, ProviderSpec

SPEC = ProviderSpec(
    type="together",
    title="Together AI",
    base_url="https://api.together.xyz/v1",
    endpoints={},
    probe=HealthProbe(path="/models"),
    docs_url="https://docs.together.ai/reference",
)
