"""Together AI: OpenAI-compatible chat and embeddings, and rerank."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec, RateLimitHeaders
from api_connector.wire.cohere_rerank import TOGETHER_RERANK
from api_connector.wire.openai_chat import OPENAI_CHAT
from api_connector.wire.openai_embeddings import COMPATIBLE_EMBEDDINGS

RERANK_MODELS = ("Salesforce/Llama-Rank-v1", "mixedbread-ai/Mxbai-Rerank-Large-V2")
CHAT_MODELS = ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "deepseek-ai/DeepSeek-V3", "Qwen/Qwen2.5-72B-Instruct-Turbo")

SPEC = ProviderSpec(
    type="together",
    title="Together AI",
    base_url="https://api.together.xyz/v1",
    endpoints={
        Capability.RERANK: Endpoint(path="/rerank", wire=TOGETHER_RERANK),
        Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT),
        # OpenAI-compatible; Together documents no limit on the inputs of one request.
        Capability.EMBEDDINGS: Endpoint(path="/embeddings", wire=COMPATIBLE_EMBEDDINGS),
    },
    probe=HealthProbe(path="/models"),
    models=RERANK_MODELS + CHAT_MODELS,
    # Requests left, without the kind in the name.
    rate_limit_headers=RateLimitHeaders(remaining=("x-ratelimit-remaining",), reset=("x-ratelimit-reset",)),
    docs_url="https://docs.together.ai/reference",
)
