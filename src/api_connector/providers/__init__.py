"""The provider catalog: ``REGISTRY`` maps a provider type to its declaration."""

from __future__ import annotations

from api_connector.providers.anthropic import SPEC as ANTHROPIC
from api_connector.providers.groq import SPEC as GROQ
from api_connector.providers.http import SPEC as HTTP
from api_connector.providers.openai import SPEC as OPENAI
from api_connector.providers.openai_compatible import SPEC as OPENAI_COMPATIBLE
from api_connector.providers.sandbox import SPEC as SANDBOX
from api_connector.providers.spec import ProviderSpec

REGISTRY: dict[str, ProviderSpec] = {
    spec.type: spec for spec in (OPENAI, ANTHROPIC, GROQ, OPENAI_COMPATIBLE, HTTP, SANDBOX)
}

__all__ = ["REGISTRY", "ProviderSpec"]
