"""The provider catalog: ``REGISTRY`` maps a provider type to its declaration."""

from __future__ import annotations

from api_connector.providers import anthropic, groq, http, openai, openai_compatible, sandbox
from api_connector.providers.spec import ProviderSpec

REGISTRY: dict[str, ProviderSpec] = {
    module.SPEC.type: module.SPEC for module in (openai, anthropic, groq, openai_compatible, http, sandbox)
}

__all__ = ["REGISTRY", "ProviderSpec"]
