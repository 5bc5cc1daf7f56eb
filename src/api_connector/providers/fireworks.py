"""Fireworks AI: OpenAI-compatible chat; quota left in requests and in prompt and generated tokens."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec, RateLimitHeaders
from api_connector.wire.openai_chat import OPENAI_CHAT

SPEC = ProviderSpec(
    type="fireworks",
    title="Fireworks AI",
    base_url="https://api.fireworks.ai/inference/v1",
    endpoints={Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT)},
    probe=HealthProbe(path="/models"),
    models=("accounts/fireworks/models/llama-v3p1-8b-instruct", "accounts/fireworks/models/deepseek-v3"),
    rate_limit_headers=RateLimitHeaders(
        remaining=(
            "x-ratelimit-remaining-requests",
            "x-ratelimit-remaining-tokens-prompt",
            "x-ratelimit-remaining-tokens-generated",
        ),
        reset=("x-ratelimit-reset-requests",),
    ),
    docs_url="https://docs.fireworks.ai/api-reference/post-chatcompletions",
)
