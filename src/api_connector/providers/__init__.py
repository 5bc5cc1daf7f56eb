"""The provider catalog: ``REGISTRY`` maps a provider type to its declaration."""

from __future__ import annotations

from api_connector.providers.anthropic import SPEC as ANTHROPIC
from api_connector.providers.azure_openai import SPEC as AZURE_OPENAI
from api_connector.providers.cohere import SPEC as COHERE
from api_connector.providers.gemini import SPEC as GEMINI
from api_connector.providers.groq import SPEC as GROQ
from api_connector.providers.http import SPEC as HTTP
from api_connector.providers.huggingface import SPEC as HUGGINGFACE
from api_connector.providers.jina import SPEC as JINA
from api_connector.providers.mistral import SPEC as MISTRAL
from api_connector.providers.ollama import SPEC as OLLAMA
from api_connector.providers.openai import SPEC as OPENAI
from api_connector.providers.openai_compatible import SPEC as OPENAI_COMPATIBLE
from api_connector.providers.replicate import SPEC as REPLICATE
from api_connector.providers.sandbox import SPEC as SANDBOX
from api_connector.providers.spec import ProviderSpec
from api_connector.providers.tgi import SPEC as TGI
from api_connector.providers.together import SPEC as TOGETHER
from api_connector.providers.voyage import SPEC as VOYAGE

REGISTRY: dict[str, ProviderSpec] = {
    spec.type: spec
    for spec in (
        OPENAI,
        ANTHROPIC,
        GROQ,
        AZURE_OPENAI,
        COHERE,
        GEMINI,
        JINA,
        MISTRAL,
        OLLAMA,
        TOGETHER,
        VOYAGE,
        HUGGINGFACE,
        TGI,
        REPLICATE,
        OPENAI_COMPATIBLE,
        HTTP,
        SANDBOX,
    )
}

__all__ = ["REGISTRY", "ProviderSpec"]
