"""Google Gemini (AI Studio): the Generative Language API, key in the x-goog-api-key header."""

from api_connector.core.capabilities import Capability
from api_connector.providers.google_chat import CHAT_MODELS, GENERATE_CONTENT
from api_connector.providers.spec import AuthKind, AuthScheme, HealthProbe, ProviderSpec

SPEC = ProviderSpec(
    type="gemini",
    title="Google Gemini",
    base_url="https://generativelanguage.googleapis.com/v1beta",
    auth=AuthScheme(kind=AuthKind.HEADER, name="x-goog-api-key", prefix=""),
    endpoints={Capability.CHAT: GENERATE_CONTENT},
    probe=HealthProbe(path="/models"),
    models=CHAT_MODELS,
    docs_url="https://ai.google.dev/api",
)
