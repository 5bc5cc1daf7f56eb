"""Anthropic: Claude through the Messages API, translated from and to the OpenAI shape."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.anthropic_count_tokens import ANTHROPIC_COUNT_TOKENS
from api_connector.wire.anthropic_messages import ANTHROPIC_MESSAGES
from api_connector.wire.model_lists import openai_models

SPEC = ProviderSpec(
    type="anthropic",
    title="Anthropic",
    base_url="https://api.anthropic.com",
    # Anthropic takes the bare key in its own header, not a Bearer token.
    auth=AuthScheme(kind=AuthKind.HEADER, name="x-api-key", prefix=""),
    endpoints={
        Capability.CHAT: Endpoint(path="/v1/messages", wire=ANTHROPIC_MESSAGES),
        Capability.TOKEN_COUNT: Endpoint(path="/v1/messages/count_tokens", wire=ANTHROPIC_COUNT_TOKENS),
    },
    # Every request must name the API version it was written against.
    headers={"anthropic-version": "2023-06-01"},
    # Callers' beta flags (a longer context or output, ...) reach Anthropic as they were sent.
    passthrough_header_prefixes=("anthropic-beta",),
    # Listing models is free and fails with 401 on a bad key.
    listing=ModelListing("/v1/models", openai_models),
    probe=HealthProbe(path="/v1/models"),
    models=(
        "claude-opus-4-1",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "claude-sonnet-4-0",
        "claude-3-5-haiku-latest",
    ),
    docs_url="https://docs.anthropic.com/en/api/messages",
)
