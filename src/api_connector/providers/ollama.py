"""Ollama: local models, no key; OpenAI-compatible routes under /v1 and its own under /api."""

from api_connector.providers.spec import HealthProbe, ProviderSpec

SPEC = ProviderSpec(
    type="ollama",
    title="Ollama (local)",
    base_url="http://127.0.0.1:11434",
    endpoints={},
    probe=HealthProbe(path="/api/tags"),
    requires_credential=False,
    docs_url="https://github.com/ollama/ollama/blob/main/docs/api.md",
)
