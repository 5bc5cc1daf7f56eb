"""Mistral AI: OpenAI-like shapes on its own base URL."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.model_lists import openai_models
from api_connector.wire.openai_embeddings import MISTRAL_EMBEDDINGS

SPEC = ProviderSpec(
    type="mistral",
    title="Mistral AI",
    base_url="https://api.mistral.ai/v1",
    endpoints={
        # Mistral caps the tokens of one embeddings request (16,384; LangChain's client batches at
        # 16,000) and documents no count; 128 inputs is what other clients send (Continue, Airweave).
        Capability.EMBEDDINGS: Endpoint(
            path="/embeddings", wire=MISTRAL_EMBEDDINGS, max_batch=128, max_batch_tokens=16_000
        ),
    },
    listing=ModelListing("/models", openai_models),
    probe=HealthProbe(path="/models"),
    models=("mistral-embed", "codestral-embed"),
    docs_url="https://docs.mistral.ai/api/",
)
