"""Google Gemini (AI Studio): the Generative Language API, key in the x-goog-api-key header."""

from api_connector.providers.spec import AuthKind, AuthScheme, HealthProbe, ProviderSpec

SPEC = ProviderSpec(
    type="gemini",
    title="Google Gemini",
    base_url="https://generativelanguage.googleapis.com/v1beta",
    auth=AuthScheme(kind=AuthKind.HEADER, name="x-goog-api-key", prefix=""),
    endpoints={},
    probe=HealthProbe(path="/models"),
    docs_url="https://ai.google.dev/api",
)
