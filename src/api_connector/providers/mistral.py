"""Mistral AI: OpenAI-like shapes on its own base URL."""

from api_connector.providers.spec import HealthProbe, ProviderSpec

SPEC = ProviderSpec(
    type="mistral",
    title="Mistral AI",
    base_url="https://api.mistral.ai/v1",
    endpoints={},
    probe=HealthProbe(path="/models"),
    docs_url="https://docs.mistral.ai/api/",
)
