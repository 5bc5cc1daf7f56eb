"""Any endpoint that speaks OpenAI Chat Completions (vLLM, Ollama, LM Studio, Together, ...).

The instance gives the base URL; the credential is optional since local servers often need none.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.model_lists import openai_models
from api_connector.wire.openai_chat import OPENAI_CHAT
from api_connector.wire.openai_embeddings import COMPATIBLE_EMBEDDINGS

SPEC = ProviderSpec(
    type="openai_compatible",
    title="OpenAI-compatible endpoint",
    base_url=None,
    endpoints={
        Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT),
        Capability.EMBEDDINGS: Endpoint(path="/embeddings", wire=COMPATIBLE_EMBEDDINGS),
    },
    listing=ModelListing("/models", openai_models),
    probe=HealthProbe(path="/models"),
    requires_credential=False,
)
