"""Cerebras: OpenAI-compatible chat; five OpenAI fields are refused with a 400, quota per day and minute."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec, RateLimitHeaders
from api_connector.wire.openai_chat import OpenAIChatWire
from api_connector.wire.openai_dialect import ChatDialect

_REFUSED = frozenset({"frequency_penalty", "presence_penalty", "logit_bias", "parallel_tool_calls", "service_tier"})

SPEC = ProviderSpec(
    type="cerebras",
    title="Cerebras",
    base_url="https://api.cerebras.ai/v1",
    endpoints={Capability.CHAT: Endpoint(path="/chat/completions", wire=OpenAIChatWire(ChatDialect(drops=_REFUSED)))},
    probe=HealthProbe(path="/models"),
    models=("llama-3.3-70b", "gpt-oss-120b", "qwen-3-32b", "zai-glm-4.7"),
    rate_limit_headers=RateLimitHeaders(
        remaining=("x-ratelimit-remaining-requests-day", "x-ratelimit-remaining-tokens-minute"),
        reset=("x-ratelimit-reset-requests-day", "x-ratelimit-reset-tokens-minute"),
    ),
    docs_url="https://inference-docs.cerebras.ai/api-reference/chat-completions",
)
