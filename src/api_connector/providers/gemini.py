"""Google Gemini (AI Studio): the Generative Language API, key in the x-goog-api-key header."""

from api_connector.core.capabilities import Capability
from api_connector.providers.google_chat import CHAT_MODELS, GENERATE_CONTENT
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.gemini_embeddings import GEMINI_EMBEDDINGS
from api_connector.wire.model_lists import google_models

SPEC = ProviderSpec(
    type="gemini",
    title="Google Gemini",
    base_url="https://generativelanguage.googleapis.com/v1beta",
    auth=AuthScheme(kind=AuthKind.HEADER, name="x-goog-api-key", prefix=""),
    endpoints={
        Capability.CHAT: GENERATE_CONTENT,
        # batchEmbedContents takes at most 100 requests per batch (the API's own error says so).
        Capability.EMBEDDINGS: Endpoint(
            path="/models/{model}:batchEmbedContents", wire=GEMINI_EMBEDDINGS, max_batch=100
        ),
    },
    listing=ModelListing("/models", google_models),
    probe=HealthProbe(path="/models"),
    models=(*CHAT_MODELS, "gemini-embedding-001", "gemini-embedding-2"),
    docs_url="https://ai.google.dev/api",
)
